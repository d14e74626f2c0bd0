"""``wsgi:app`` with its password-work threads at the priority (nice value) in
``BENCH_PASSWORD_PRIORITY``: for bench/tune_flood.py and make bench's "before". The nice value is a
constant in app/auth/admission.py, not a setting, so trying another one
means changing the default before the app is built."""

import os

from app.auth import admission

admission.PasswordWork.__init__.__defaults__ = (int(os.environ["BENCH_PASSWORD_PRIORITY"]),)

from wsgi import app  # noqa: E402

__all__ = ["app"]
