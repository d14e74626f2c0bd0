"""The floor: a bare Flask endpoint returning a small JSON, served by the same
gunicorn settings as the service (`gunicorn -c gunicorn.conf.py bench.bare_app:app`)."""

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}  # what the benchmark's start-up probe asks


@app.get("/bare")
def bare() -> dict[str, object]:
    return {"id": 1, "username": "johndoe", "email": "john@example.com"}
