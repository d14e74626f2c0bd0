"""Admission control's tunables under the login flood of `make bench`.

    python bench/tune_flood.py "wait=0.05" "wait=0" "slots=1" "nice=0,wait=0" ...

Each argument is one configuration: ``slots`` (PASSWORD_WORK_SLOTS, for the
host), ``wait`` (PASSWORD_WORK_WAIT, seconds), ``nice`` (the password-work
threads' nice value, a constant in app/auth/admission.py, see
bench/nice_wsgi.py), ``alone=1`` to also load the flood without /me. Every
configuration gets BENCH_RUNS runs of bench/run.py's ``login_flood``, on one
private Redis and one SQLite database; a Markdown row is printed as each
finishes.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as bench  # noqa: E402

from tests.real.services import RedisServer  # noqa: E402

SETTINGS = {"slots": "PASSWORD_WORK_SLOTS", "wait": "PASSWORD_WORK_WAIT"}


def main() -> int:
    specs = sys.argv[1:] or ["wait=0.05"]
    workdir = Path(tempfile.mkdtemp(prefix="auth-tune-"))
    database_url = f"sqlite:///{workdir / 'tune.sqlite3'}"
    bench.migrate(database_url)
    store = RedisServer()
    print("| configuration | /me alone r/s | /me in flood r/s | p50 ms | p99 ms | timeouts "
          "| ÷ alone | checked/s | refused/s | login p50 / p99 ms | checked ÷ ceiling "
          "| flood alone: checked ÷ ceiling |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        store.start()
        for number, spec in enumerate(specs):
            options = dict(item.split("=", 1) for item in spec.split(",") if item)
            settings = {SETTINGS[name]: value for name, value in options.items()
                        if name in SETTINGS}  # fmt: skip
            app_module = "wsgi:app"
            if "nice" in options:
                settings["BENCH_PASSWORD_PRIORITY"] = options["nice"]
                app_module = "bench.nice_wsgi:app"
            flood = bench.login_flood(
                store.url, database_url, workdir / f"tune-{number}.log", spec, settings,
                flood_alone=options.get("alone") == "1", app_module=app_module,
            )  # fmt: skip
            me, logins = flood.me, flood.logins
            alone = f"{flood.checked_ratio(alone=True):.2f}" if flood.logins_alone else ""
            print(
                f"| {spec} | {flood.alone.rps:,.0f} | {me.rps:,.0f} | {me.p50_ms:.1f} | "
                f"{me.p99_ms:.1f} | {me.timeouts} | {flood.me_ratio:.2f} | "
                f"{flood.per_second(401):.1f} | {flood.per_second(503):,.0f} | "
                f"{logins.p50_ms:.0f} / {logins.p99_ms:.0f} | {flood.checked_ratio():.2f} "
                f"(ceiling {flood.ceiling:.1f}/s) | {alone} |",
                flush=True,
            )
    finally:
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
