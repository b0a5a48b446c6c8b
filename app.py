"""Entry point: ``flask --app app run`` / ``flask --app app stations ...`` or ``python app.py``.

``python app.py [--host H] [--port P] [--processes N] [--threads T]`` serves with waitress
(host/port also from ``GEOSERVICE_HOST`` / ``GEOSERVICE_PORT``, default 127.0.0.1:5000; the
number of web processes from ``GEOSERVICE_PROCESSES``, default 2), through
:mod:`geoservice.web.serve`: waitress's own error answers are the app's, its limits too.
With several processes a small supervisor (:mod:`geoservice.processes`) binds the port once,
forks the web processes (each creates its app and loads its own road networks) and the job
worker (tour plans, coverage and siting: :mod:`geoservice.web.jobs`), and restarts one that
dies; ``--processes 1`` serves in this one process, as a debugger wants, without a worker
(run ``flask --app app jobs worker`` beside it, or set ``GEOSERVICE_JOBS_MODE=inline``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

#: Web processes by default: one per core of the 2-core server (docs/operations.md).
DEFAULT_PROCESSES = 2
#: waitress threads per web process by default (docs/benchmarks.md).
DEFAULT_THREADS = 4


def __getattr__(name: str) -> Any:
    # ``app`` for ``flask --app app``, created on first use: ``python app.py`` must not load
    # the heavy stack in the supervisor, before it forks the web processes.
    if name == "app":
        from geoservice.web import create_app

        globals()["app"] = created = create_app()
        return created
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def main(companions: Sequence[tuple[str, Callable[[], object]]] = ()) -> None:
    """Serve the app with waitress: ``--processes`` web processes and the ``companions``
    (``(name, function)``, each its own process, e.g. the job worker) under a supervisor,
    or one process serving directly (``--processes 1``; companions are then not run)."""
    parser = argparse.ArgumentParser(description="geoservice: serve the app with waitress")
    parser.add_argument("--host", default=os.environ.get("GEOSERVICE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GEOSERVICE_PORT", "5000")))
    parser.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("GEOSERVICE_PROCESSES", DEFAULT_PROCESSES)),
        help=f"web processes (default {DEFAULT_PROCESSES}; 1: no supervisor)",
    )
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args()
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.processes == 1:
        print(f"geoservice: http://{args.host}:{args.port}/  (one process)")
        _serve(args.threads, host=args.host, port=args.port)
        return

    from geoservice import processes

    sockets = processes.listen(args.host, args.port, args.processes)
    print(f"geoservice: http://{args.host}:{args.port}/  ({args.processes} web processes)")
    status = processes.supervise(
        lambda sock: _serve(args.threads, sockets=[sock]), sockets, companions=companions
    )
    sys.exit(status)


def _serve(threads: int, **where: Any) -> None:
    """Create the app and serve it in this process (``host``/``port``, or ``sockets``)."""
    from geoservice import processes
    from geoservice.errors import StoreError
    from geoservice.web import STORE_KEY, create_app, serve

    try:
        app = create_app()
    except (ValueError, OSError, StoreError) as exc:  # a bad setting or store: stop
        print(f"geoservice: cannot start: {exc}", file=sys.stderr)
        sys.exit(processes.EX_CONFIG)
    globals()["app"] = app
    store_at = app.extensions[STORE_KEY].location()  # never the password of a STORE_URL
    print(f"geoservice: process {os.getpid()} serving (store: {store_at})")
    # Load the road networks and precompute the station rows in the background: the pages
    # are served at once, and routing answers 503 with Retry-After until it is done.
    threading.Thread(target=_warm, args=(app,), name="warm-networks", daemon=True).start()
    serve.serve(app, threads=threads, **where)


def _warm(app: Any) -> None:
    from geoservice.web import get_engine

    started = time.perf_counter()
    with app.app_context():
        try:
            engine = get_engine()
        except Exception as exc:  # a broken network must not take the pages down
            print(f"geoservice: road networks unavailable: {exc}")
            return
    sizes = ", ".join(f"{m} {n.n_nodes:,} nodes" for m, n in engine.networks.items())
    print(f"geoservice: routing ready in {time.perf_counter() - started:.1f} s ({sizes})")
    # Coverage, siting and tours are computed by the job workers, which load what they need.


def _work() -> None:
    """The job workers' process (a companion of the web processes): the app's
    ``JOBS_WORKERS`` workers at ``JOBS_NICE`` (geoservice.web.jobs.work); with
    ``JOBS_MODE = "inline"`` (jobs run where they are asked) it only waits."""
    import signal

    from geoservice import processes
    from geoservice.web import create_app
    from geoservice.web.jobs import work

    try:
        app = create_app()
    except (ValueError, OSError) as exc:  # as a web process does: a bad setting stops
        print(f"geoservice jobs: cannot start: {exc}", file=sys.stderr)
        sys.exit(processes.EX_CONFIG)
    if app.config["JOBS_MODE"] == "inline" or int(app.config["JOBS_WORKERS"]) < 1:
        print("geoservice jobs: no worker (JOBS_MODE=inline or JOBS_WORKERS=0)")
        while True:
            signal.pause()
    work(app)


if __name__ == "__main__":
    main(companions=[("jobs", _work)])
