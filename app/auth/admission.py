"""Admission control for password work: a login flood must not take down
the users who are already signed in.

Hashing or verifying a password costs ~270 ms of a core (bcrypt, cost 12);
a ``GET /me`` costs well under a millisecond. Left alone, a burst of logins
occupies every thread and core, and signed-in users queue behind it. So:

* **A budget per host.** At most ``PASSWORD_WORK_SLOTS`` password checks run
  at once on the host, across every worker and every gunicorn on it (by
  default half the cores: the other half stays free for cheap requests).
  A slot is a lock file (``flock``) in ``PASSWORD_WORK_DIR``: the kernel
  releases a dead process's locks, so a worker killed mid-hash cannot leak
  its slot, which a count kept in the gunicorn master would.
* **Its own threads, first in line for the CPU.** Admitted work runs on
  dedicated threads at a raised priority (where the process may raise it):
  the budget already caps how many cores it can take, so within it the
  work it admitted is not starved by the requests it was meant to spare.
* **No queue.** A request that finds the budget full (after at most
  ``PASSWORD_WORK_WAIT``, 0 by default) gets ``PasswordWorkBusy``, a 503
  with ``Retry-After``. With the budget full, :class:`AdmissionGate` answers
  that 503 before Flask parses anything, so a flood's refusals stay cheap.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.exceptions import PasswordWorkBusy

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

Result = TypeVar("Result")
# A whole response, rendered once by the app: status line, headers, body.
Answer = tuple[str, list[tuple[str, str]], bytes]
View = TypeVar("View", bound=Callable[..., Any])

# Raised above the request threads' priority (nice 0), where permitted: see
# the module docstring. Unprivileged processes keep 0.
PRIORITY = -10
# How often a waiting request looks for a free slot again (PASSWORD_WORK_WAIT > 0).
POLL_SECONDS = 0.005


def _set_priority(nice: int) -> None:
    """Runs once in each password-work thread: Linux sets priorities per thread."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):  # not Linux, or not permitted: stay as we are
        log.debug("password work runs at the process's priority")


class HostSlots:
    """``count`` slots shared by every process of this user on the host.

    A slot is taken with a non-blocking ``flock`` on its file. A lock
    belongs to an open file, so each process opens the files itself (after
    any fork), and a per-slot thread lock keeps two threads of one process
    from taking the same slot through the same file.
    """

    def __init__(self, directory: str, count: int) -> None:
        self.directory = Path(directory)
        self.count = count
        self._threads = [threading.Lock() for _ in range(count)]
        self._files: list[int] = []
        self._opened_by = 0
        self._open_lock = threading.Lock()
        self._next = itertools.count()

    def prepare(self) -> None:
        """Make the directory, private to this user; refuse a shared one."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise RuntimeError(
                f"PASSWORD_WORK_DIR={self.directory} must be a directory of this user's "
                "that nobody else can write to"
            )

    def _fds(self) -> list[int]:
        pid = os.getpid()
        if self._opened_by != pid:  # first use in this process
            with self._open_lock:
                if self._opened_by != pid:
                    self.prepare()
                    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                    self._files = [
                        os.open(self.directory / f"slot-{number}", flags, 0o600)
                        for number in range(self.count)
                    ]
                    self._opened_by = pid
        return self._files

    def take(self) -> int | None:
        """A free slot's number, now held, or None."""
        files = self._fds()
        start = next(self._next)  # spread the first tries over the slots
        for offset in range(self.count):
            number = (start + offset) % self.count
            if not self._threads[number].acquire(blocking=False):
                continue
            try:
                fcntl.flock(files[number], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._threads[number].release()
                continue
            return number
        return None

    def give_back(self, number: int) -> None:
        fcntl.flock(self._files[number], fcntl.LOCK_UN)
        self._threads[number].release()

    def full(self) -> bool:
        number = self.take()
        if number is None:
            return True
        self.give_back(number)
        return False


_shared: dict[tuple[str, int], HostSlots] = {}
_shared_lock = threading.Lock()


def host_slots(directory: str, count: int) -> HostSlots:
    """One ``HostSlots`` per directory in a process, however many apps it
    builds (tests build hundreds): its files stay open for the process's life."""
    with _shared_lock:
        return _shared.setdefault((directory, count), HostSlots(directory, count))


class PasswordWork:
    def __init__(self, slots: int, wait: float, directory: str, priority: int = PRIORITY) -> None:
        self.slots = host_slots(directory, slots)
        self.wait = wait
        self.priority = priority
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.refusals = RefusalLog()

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use, so in the gunicorn worker, after the fork. As
        # many threads as the host has slots: this process may hold them all.
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.slots.count,
                        thread_name_prefix="password-work",
                        initializer=_set_priority,
                        initargs=(self.priority,),
                    )
        return self._pool

    def _take_slot(self) -> int | None:
        number = self.slots.take()
        if number is not None or self.wait <= 0:
            return number
        deadline = time.monotonic() + self.wait
        while number is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(POLL_SECONDS, left))
            number = self.slots.take()
        return number

    def run(self, work: Callable[..., Result], *args: object) -> Result:
        """``work(*args)`` on a password-work thread, or ``PasswordWorkBusy``
        when no slot of the host's is free (within the wait)."""
        number = self._take_slot()
        if number is None:
            self.refusals.count()
            raise PasswordWorkBusy()
        try:
            return self._executor().submit(work, *args).result()
        finally:
            self.slots.give_back(number)


class RefusalLog:
    """The first refusal is logged at once; after it, at most one line a
    second, with the count since the previous line: a flood is thousands
    of refusals, and a line each would cost more than the refusals."""

    def __init__(self, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last_line = -every
        self._first: float | None = None  # the first refusal not yet in a line
        self._refused = 0

    def count(self) -> None:
        with self._lock:
            now = self.clock()
            self._first = now if self._first is None else self._first
            self._refused += 1
            if now - self._last_line < self.every:
                return
            refused, seconds = self._refused, now - self._first
            self._refused, self._first, self._last_line = 0, None, now
        log.warning(
            "password work refused %d requests in %.1f s: budget full",
            refused,
            seconds,
            extra={"event": "password_work_busy", "refused": refused},
        )


def gated(view: View) -> View:
    """Marks a view that does password work, for :class:`AdmissionGate`."""
    view.password_work = True  # type: ignore[attr-defined]
    return view


def gated_paths(rules: Iterable[Any], views: dict[str, Callable[..., Any]]) -> frozenset[str]:
    return frozenset(
        rule.rule
        for rule in rules
        if not rule.arguments and getattr(views.get(rule.endpoint), "password_work", False)
    )


class AdmissionGate:
    """WSGI middleware: while the host's budget is full, a POST to a view
    that would check a password is answered here, with the app's own 503,
    at a fraction of what routing, parsing and a database lookup would cost.

    Requests with an ``Origin`` go through the app, which adds CORS headers
    (or refuses a foreign origin). A request the gate lets through can still
    find the budget full by the time it gets there: the app refuses it then.
    """

    def __init__(
        self,
        app: WSGIApplication,
        work: PasswordWork,
        paths: frozenset[str],
        answer: Answer,
        request_id: Callable[[str], str],
    ) -> None:
        self.app = app
        self.work = work
        self.paths = paths
        self.status, self.headers, self.body = answer
        self.request_id = request_id

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") in self.paths
            and "HTTP_ORIGIN" not in environ
            and self.work.slots.full()
        ):
            self.work.refusals.count()
            request_id = self.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
            start_response(self.status, [*self.headers, ("X-Request-ID", request_id)])
            return [self.body]
        return self.app(environ, start_response)
