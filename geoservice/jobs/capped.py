"""Run one job in a forked child process under a wall-clock cap that holds.

A tour search or a coverage computation spends its time in compiled code (PyVRP's C++,
numba, GEOS), where neither a thread nor a signal can stop it. So a job runs in a child
forked from the worker (which has the road networks loaded: the child shares them, copy on
write) and the worker waits for it: at the cap, or when the job is cancelled, the child is
killed (``SIGKILL``), whatever it is doing. Whatever the child writes it writes atomically
(a saved plan, a cached answer), so a killed job leaves nothing half-written.

The child reports over a pipe: progress (at most twice a second), then its result or its
error. It dies with the worker (``PR_SET_PDEATHSIG``), so no job outlives the process that
watches its cap.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from geoservice.errors import NetworkError, OsmError, ParameterError, StoreError, error_body
from geoservice.messages import message
from geoservice.responses import ErrorBody

__all__ = ["Outcome", "Progress", "error_of", "run_capped", "run_inline", "throttled"]

logger = logging.getLogger(__name__)

#: ``progress(step, done, total)``: how far a job is.
Progress = Callable[[str, int, int], None]
#: What a job computes: given a progress callback, its JSON-ready result.
Work = Callable[[Progress], dict]

#: Seconds between two progress messages of a child (the last of a step always goes).
_PROGRESS_EVERY = 0.5
#: Seconds between two looks at whether the job was cancelled.
_CANCEL_EVERY = 1.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Outcome:
    """How a job ended.

    Attributes
    ----------
    state : str
        ``"done"``, ``"failed"`` or ``"cancelled"`` (at the cap, or on request).
    result : dict or None
        When done.
    error : dict or None
        When failed or cancelled: the API's error body.
    """

    state: str
    result: dict | None = None
    error: ErrorBody | None = None


def error_of(exc: BaseException) -> ErrorBody:
    """The error body a job that raised ``exc`` ends with (as the API would answer it)."""
    if isinstance(exc, ParameterError):
        return exc.to_dict()
    if isinstance(exc, NetworkError | OsmError):
        return error_body(503, *message("network.unavailable", detail=exc))
    if isinstance(exc, StoreError):  # a plan that cannot be saved: 503, as in a request
        return error_body(503, *message("store.unavailable"))
    return error_body(500, *message("jobs.crashed"))


def throttled(progress: Progress) -> Progress:
    """``progress``, told at most twice a second within a step (a search reports every
    iteration), and always told a step's first and last count."""
    last_at, last_step = 0.0, ""

    def report(step: str, done: int, total: int) -> None:
        nonlocal last_at, last_step
        now = time.monotonic()
        if step == last_step and done < total and now - last_at < _PROGRESS_EVERY:
            return
        last_at, last_step = now, step
        progress(step, int(done), int(total))

    return report


def run_inline(work: Work, progress: Progress) -> Outcome:
    """Run ``work`` in this process, without a cap (``JOBS_MODE=inline``: the CLI and unit
    tests, where the caller waits anyway)."""
    try:
        return Outcome("done", result=work(throttled(progress)))
    except Exception as exc:
        if not isinstance(exc, ParameterError):
            logger.exception("job failed")
        return Outcome("failed", error=error_of(exc))


def run_capped(
    work: Work,
    seconds: float,
    progress: Progress,
    cancelled: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Run ``work`` in a forked child, killed at ``seconds`` or when ``cancelled()``.

    Parameters
    ----------
    work : callable
        ``work(progress) -> dict``; raises a :class:`~geoservice.errors.ParameterError`
        (or another error) to fail.
    seconds : float
        The wall-clock cap, from the fork to the result.
    progress : callable
        Told the child's progress, in this process.
    cancelled : callable
        Asked about once a second whether to stop.

    Returns
    -------
    Outcome
    """
    # os.fork, not multiprocessing: a worker may itself be a daemonic process (Huey's), and
    # those may not start multiprocessing children.
    read_fd, write_fd = os.pipe()
    deadline = time.monotonic() + seconds
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        code = 0
        try:
            _child(work, Connection(write_fd, readable=False), parent)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    receive = Connection(read_fd, writable=False)
    child = _Child(pid)
    try:
        return _watch(child, receive, deadline, seconds, progress, cancelled)
    finally:
        receive.close()
        child.kill()
        child.join()


class _Child:
    """The forked child's process id, killed and reaped once."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exitcode: int | None = None

    def kill(self) -> None:
        if self.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def join(self) -> None:
        if self.exitcode is None:
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
                self.exitcode = os.waitstatus_to_exitcode(status)


def _watch(
    child: _Child,
    receive: Connection,
    deadline: float,
    seconds: float,
    progress: Progress,
    cancelled: Callable[[], bool],
) -> Outcome:
    next_look = time.monotonic() + _CANCEL_EVERY
    while True:
        now = time.monotonic()
        if now >= deadline:
            child.kill()
            return Outcome("cancelled", error=_cap_error(seconds))
        if now >= next_look:
            next_look = now + _CANCEL_EVERY
            if cancelled():
                child.kill()
                return Outcome("cancelled", error=error_body(410, *message("jobs.cancelled")))
        if not receive.poll(min(deadline - now, next_look - now, _CANCEL_EVERY)):
            continue
        try:
            kind, *data = receive.recv()
        except (EOFError, OSError):  # the child died without a word (killed, out of memory)
            child.join()
            logger.error("job process ended without an answer (exit code %s)", child.exitcode)
            return Outcome("failed", error=error_body(500, *message("jobs.crashed")))
        if kind == "progress":
            progress(*data)
        elif kind == "done":
            return Outcome("done", result=data[0])
        else:
            return Outcome("failed", error=data[0])


def _cap_error(seconds: float) -> ErrorBody:
    return error_body(503, *message("jobs.cap", seconds=f"{seconds:g}"))


def _child(work: Work, send: Connection, parent: int) -> None:
    """The forked child: die with the worker, run, report."""
    _die_with_parent(parent)
    # The worker's handlers (Huey's graceful stop) are not the child's business.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def report(step: str, done: int, total: int) -> None:
        send.send(("progress", step, done, total))

    try:
        result = work(throttled(report))
    except Exception as exc:
        if not isinstance(exc, ParameterError):
            logger.error("job failed\n%s", traceback.format_exc())
        send.send(("failed", error_of(exc)))
    else:
        send.send(("done", result))
    finally:
        send.close()


def _die_with_parent(parent: int) -> None:
    # Linux: the kernel kills the child when the worker (thread) that watches its cap ends;
    # and if the worker ended before this was set, the child ends now.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the worker kills it at the cap anyway
        pass
    if os.getppid() != parent:
        os._exit(1)
