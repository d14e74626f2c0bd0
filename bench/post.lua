-- wrk: POST the JSON body in $BENCH_BODY (a login) on every request.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
