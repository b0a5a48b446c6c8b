"""Several processes behind one port: a small supervisor.

``python app.py`` binds one listening socket per web process on the same port
(:func:`listen`, ``SO_REUSEPORT``), then :func:`supervise` forks the web processes, each
serving its own inherited socket, and the *companions*: other long-running processes the
service needs beside the web ones (the job worker), each given as a name and a function.

One socket per process, because with one shared socket the process that wakes first takes
the connections: a client that keeps its connections open (a proxy, a load test with 50
connections) often ended with nearly all of them in one process, one core idle and a third
of the throughput. With ``SO_REUSEPORT`` the kernel spreads new connections over the
sockets by their addresses. A socket stays open in the supervisor while its process is
restarted: the connections it receives meanwhile wait for the new process.

The supervisor itself stays small: it imports only the standard library and forks before
anything heavy is loaded, so that each child creates its own app and loads its own road
networks (a child's memory is its own; no thread is ever forked). It

* restarts a child that dies, after a back-off that doubles while children keep dying
  young (:data:`RESTART_FIRST_S` up to :data:`RESTART_MAX_S`);
* stops everything on SIGTERM or SIGINT: the children get SIGTERM, and SIGKILL after
  ``grace`` seconds;
* stops everything, with that exit status, when a child exits with :data:`EX_CONFIG`:
  a setting that cannot work (a bad ``TILES``) must stop the service, not loop.

Framework-free, like the rest of the core: a child's function decides what it runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["EX_CONFIG", "Child", "listen", "supervise"]

#: The exit status of a child that cannot start because of its configuration (sysexits.h):
#: the supervisor stops instead of restarting it.
EX_CONFIG = 78
#: Wait before the first restart of a child that died, doubled per quick death in a row.
RESTART_FIRST_S = 0.5
#: The longest wait before a restart.
RESTART_MAX_S = 30.0
#: A child that lived this long before dying is restarted after the first wait again.
HEALTHY_S = 30.0
#: How often the supervisor looks at its children (it sleeps meanwhile).
_TICK_S = 0.1
#: The listening socket's queue of connections not yet accepted.
BACKLOG = 2048


@dataclass
class Child:
    """One supervised process: its name, what it runs, and its state.

    Attributes
    ----------
    name : str
        ``web-1``, ``web-2``, … or a companion's name (in the supervisor's messages).
    target : callable
        What the process runs; its return ends the process (status 0), an exception too
        (status 1), ``SystemExit`` with its status.
    socket : socket.socket or None
        The listening socket a web process serves (None: a companion).
    """

    name: str
    target: Callable[[], object]
    socket: socket.socket | None
    pid: int = 0
    started: float = 0.0
    quick_deaths: int = 0
    due: float = 0.0  # when to start it again (0: running)


def listen(host: str, port: int, count: int = 1, backlog: int = BACKLOG) -> list[socket.socket]:
    """``count`` listening TCP sockets on one address (IPv4 or IPv6 from ``host``), one per
    web process, among which the kernel spreads new connections (``SO_REUSEPORT``).

    Port 0 picks a free port for the first socket; the others bind the same.
    """
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = info[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            # A restarted service binds again at once, without waiting out old connections.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            address = sock.getsockname()  # the port chosen for port 0
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def supervise(
    web: Callable[[socket.socket], object],
    sockets: Sequence[socket.socket],
    *,
    companions: Sequence[tuple[str, Callable[[], object]]] = (),
    grace: float = 10.0,
) -> int:
    """Run one web process per listening socket, and the companions, until SIGTERM or
    SIGINT.

    Parameters
    ----------
    web
        What a web process runs: ``web(sock)`` serves its socket (inherited) until it is
        stopped.
    sockets
        The listening sockets (:func:`listen`), one per web process (at least one); each
        process closes the others, the companions close them all.
    companions
        ``(name, function)`` of the other processes to keep running (the job worker).
    grace
        Seconds the children have to stop after SIGTERM before they are killed.

    Returns
    -------
    int
        The exit status: 0 when stopped by a signal, :data:`EX_CONFIG` when a child could
        not start because of its configuration.
    """
    if not sockets:
        msg = "at least one listening socket is needed"
        raise ValueError(msg)
    children = [
        Child(f"web-{i + 1}", functools.partial(web, sock), sock) for i, sock in enumerate(sockets)
    ]
    children += [Child(name, target, None) for name, target in companions]
    stop: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    for child in children:
        _start(child, sockets)
    _say(f"supervisor {os.getpid()}: {len(sockets)} web processes on {_where(sockets[0])}")
    status = 0
    while not stop:
        status = _reap(children)
        if status:
            break
        now = time.monotonic()
        for child in children:
            if child.due and now >= child.due:
                _start(child, sockets)
        time.sleep(_TICK_S)
    _stop(children, grace)
    for sock in sockets:
        sock.close()
    return status


def _start(child: Child, sockets: Sequence[socket.socket]) -> None:
    """Fork ``child``'s process; in the child, run its target and exit (never return)."""
    # What is buffered now would be written twice, by the parent and by the child.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        child.pid, child.started, child.due = pid, time.monotonic(), 0.0
        return
    code = 1
    try:
        # The child's own signal handling: SIGTERM ends it (unless its target decides
        # otherwise); a terminal's Ctrl-C reaches the supervisor, which stops everyone.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sock in sockets:
            if sock is not child.socket:
                sock.close()
        child.target()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the child's end, whatever happened: the supervisor restarts it
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: the supervisor's atexit handlers and finally blocks are not ours.
        os._exit(code)


def _reap(children: list[Child]) -> int:
    """Collect the children that died and schedule their restarts; :data:`EX_CONFIG` when
    one could not start because of its configuration, else 0."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            return 0
        child = next((c for c in children if c.pid == pid), None)
        if child is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if code == EX_CONFIG:
            _say(f"{child.name} ({pid}) cannot start with this configuration: stopping")
            child.pid = 0
            return EX_CONFIG
        lived = time.monotonic() - child.started
        child.quick_deaths = 0 if lived >= HEALTHY_S else child.quick_deaths + 1
        wait = min(RESTART_FIRST_S * 2 ** max(child.quick_deaths - 1, 0), RESTART_MAX_S)
        child.pid, child.due = 0, time.monotonic() + wait
        _say(f"{child.name} ({pid}) exited with {_describe(code)}; restarting in {wait:g} s")


def _stop(children: list[Child], grace: float) -> None:
    """SIGTERM to every running child, SIGKILL to those still running after ``grace``."""
    running = {c.pid for c in children if c.pid}
    for pid in running:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        running -= _exited(running)
        time.sleep(_TICK_S / 2)
    for pid in running:
        _signal(pid, signal.SIGKILL)
    for pid in running:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    _say(f"supervisor {os.getpid()}: stopped")


def _exited(pids: set[int]) -> set[int]:
    done = set()
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                done.add(pid)
        except ChildProcessError:
            done.add(pid)
    return done


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just exited
        os.kill(pid, signum)


def _describe(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"status {code}"


def _where(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}/"


def _say(message: str) -> None:
    # Plain lines on standard error, as app.py's: the supervisor loads no logging set-up.
    print(f"geoservice: {message}", file=sys.stderr, flush=True)
