"""gunicorn settings, read from the environment (docs/API.md, Configuration).

Run: ``gunicorn -c gunicorn.conf.py wsgi:app``. The app is not preloaded, so
each worker builds its own app and its own Redis and database pools after
the fork: no connection is shared between processes.
"""

import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)

from escaped_access_log import EscapingLogger  # noqa: E402

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gthread, plus a pause before reading again from a connection that was
# told to come back later (parking_worker.py): a flood's retries cost no CPU.
worker_class = "parking_worker.ParkingWorker" if threads > 1 else "sync"
preload_app = False

# GUNICORN_REUSE_PORT=1: each worker listens on its own SO_REUSEPORT socket
# and the kernel spreads new connections evenly over them. With one shared
# socket, whichever worker wakes first may accept a burst of keep-alive
# connections and serve them alone while the other idles (the benchmark saw
# a single worker take all 16 of wrk's). Off by default: a second server
# started on the same port would then share it silently instead of failing.
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "0").lower() in {"1", "true", "yes", "on"}

# Requests in flight get this long to finish after SIGTERM (graceful stop).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = 5

# Behind a load balancer several gunicorns may share a host; the control
# socket (~/.gunicorn/gunicorn.ctl) would collide, and nothing here uses it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# No query strings or request headers in the access log: they may carry
# secrets. The last field is the X-Request-ID the service answered with.
# "<pid>" first: which worker served a request (tests check that both do).
access_log_format = '%(p)s %(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
# Escapes what a client controls (the path above): a %0A in it cannot start
# a second, forged line (escaped_access_log.py).
logger_class = EscapingLogger


def on_starting(server):
    """Refuse to start, in one line, before forking workers that would crash-loop."""
    from config import ConfigurationError, config_from_env

    try:
        config = config_from_env()
    except ConfigurationError as error:
        sys.exit(f"configuration error: {error}")
    for warning in config.warnings():
        server.log.warning("configuration: %s", warning)


def post_request(worker, req, environ, resp):
    """Tell the worker how the request was answered (parking_worker.py)."""
    after_answer = getattr(worker, "after_answer", None)
    if after_answer is not None:
        after_answer(environ, resp.status_code, resp.headers)
