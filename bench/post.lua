-- wrk: POST the JSON body in $BENCH_BODY (a login) on every request, and
-- count the answers by status. wrk itself only says "Non-2xx or 3xx
-- responses: N", which cannot tell a checked password (401) from a
-- refusal (503); done() prints one "status <code> <count>" line per status.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}  -- a global of this thread's Lua state: read back in done()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\n", status, count))
  end
end
