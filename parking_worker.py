"""gunicorn's threaded worker, plus one thing: a connection whose answer
said "come back later" (a 503 or 429 with ``Retry-After``) is read again
only after a pause.

Why: during a login flood most logins are refused (app/auth/admission.py),
and a refusal is cheap, but a flooding client retries at once, so cheap
times thousands is what signed-in users then compete with. Parking the
connection on a timer holds no thread and no CPU, and caps what one
connection can cost at one request a pause. A client that honours
``Retry-After`` never notices; one that does not waits as if it had.

gunicorn has no hook between "answer written" and "read the next request",
so this overrides two methods of ``gthread.ThreadWorker``: the pinned
gunicorn's, tested in tests/real/test_admission_real.py.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

PAUSE_LIMIT = 1.0  # seconds: well under gunicorn's keep-alive timeout
COME_BACK_LATER = {429, 503}


class ParkingWorker(ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pauses: dict[int, float] = {}  # id(socket) -> seconds, set by a request thread
        self._parked: list[tuple[float, int, Any, Any]] = []  # heap: (due, order, conn, future)
        self._order = itertools.count()

    def after_answer(self, environ: dict[str, Any], status: int, headers: list[Any]) -> None:
        """Called in the request's thread (gunicorn.conf.py's post_request)."""
        if status not in COME_BACK_LATER:
            return
        retry_after = next((v for k, v in headers if k.lower() == "retry-after"), None)
        if retry_after is None or not retry_after.isdigit():
            return
        socket = environ.get("gunicorn.socket")
        if socket is not None:
            self._pauses[id(socket)] = min(float(retry_after), PAUSE_LIMIT)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """Runs on the main thread once a request is answered."""
        pause = self._pauses.pop(id(conn.sock), None)
        if pause and self.alive:
            due = time.monotonic() + pause
            heapq.heappush(self._parked, (due, next(self._order), conn, fs))
            return
        super().finish_request(conn, fs)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self._parked:
            timeout = max(0.0, min(timeout, self._parked[0][0] - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)
        now = time.monotonic()
        # Stopping, every parked connection goes back at once (and is told to close).
        while self._parked and (self._parked[0][0] <= now or not self.alive):
            _, _, conn, fs = heapq.heappop(self._parked)
            super().finish_request(conn, fs)
