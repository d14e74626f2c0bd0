"""Admission control for password work: a login flood must not take down
the users who are already signed in.

Hashing or verifying a password costs ~270 ms of a core (bcrypt, cost 12);
a ``GET /me`` costs well under a millisecond. Left alone, a burst of logins
occupies every thread and core, and signed-in users queue behind it. So
password work runs here:

* on a few dedicated threads per worker (``slots``), never more at once:
  together they are the host's budget (``PASSWORD_WORK_SLOTS``, by default
  one per core, split over the gunicorn workers);
* at a lower CPU priority (``nice``), so that when cores are short the
  kernel serves cheap requests first and bcrypt takes what is left;
* behind a short, bounded wait (``PASSWORD_WORK_WAIT``): a request that
  finds the budget full after it gets ``PasswordWorkBusy`` (a fast 503 with
  ``Retry-After``) instead of joining a queue that grows without end.

Per worker rather than per host: a budget shared through the gunicorn
master would leak a slot each time a worker died holding it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from app.exceptions import PasswordWorkBusy

log = logging.getLogger(__name__)

Result = TypeVar("Result")


def _lower_priority(nice: int) -> None:
    """Runs once in each password-work thread: Linux nices threads one by one."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):  # not Linux, or not permitted
        log.debug("password work runs at normal priority")


class PasswordWork:
    def __init__(self, slots: int, wait: float, nice: int = 10) -> None:
        self.slots = slots
        self.wait = wait
        self.nice = nice
        self._free = threading.BoundedSemaphore(slots)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use, so in the gunicorn worker, after the fork.
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.slots,
                        thread_name_prefix="password-work",
                        initializer=_lower_priority,
                        initargs=(self.nice,),
                    )
        return self._pool

    def run(self, work: Callable[..., Result], *args: object) -> Result:
        """``work(*args)`` on a password-work thread, or ``PasswordWorkBusy``
        when no slot frees up within the wait."""
        if not self._free.acquire(timeout=self.wait):
            log.info("password work refused: budget full", extra={"event": "password_work_busy"})
            raise PasswordWorkBusy()
        try:
            return self._executor().submit(work, *args).result()
        finally:
            self._free.release()


def slots_per_worker(host_slots: int, workers: int) -> int:
    """This worker's share of the host's budget (at least one)."""
    return max(1, -(-host_slots // max(1, workers)))
