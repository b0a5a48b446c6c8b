"""Entry point: ``flask --app app run`` / ``flask --app app stations ...`` or ``python app.py``.

``python app.py [--host H] [--port P]`` serves with waitress (host/port also from
``GEOSERVICE_HOST`` / ``GEOSERVICE_PORT``; default 127.0.0.1:5000), through
:mod:`geoservice.web.serve`: waitress's own error answers are the app's, its limits too.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from geoservice.web import create_app, get_coverage, get_engine

app = create_app()


def main() -> None:
    """Serve the app with waitress."""
    parser = argparse.ArgumentParser(description="geoservice: serve the app with waitress")
    parser.add_argument("--host", default=os.environ.get("GEOSERVICE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GEOSERVICE_PORT", "5000")))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    from geoservice.web import serve

    print(f"geoservice: http://{args.host}:{args.port}/  (store: {app.config['STORE_PATH']})")
    # Load the road networks, precompute station rows and the coverage tables in the
    # background: the pages are served at once, and an answer waits only if it is asked
    # for before its part is done.
    threading.Thread(target=_warm, name="warm-networks", daemon=True).start()
    serve.serve(app, host=args.host, port=args.port, threads=args.threads)


def _warm() -> None:
    started = time.perf_counter()
    with app.app_context():
        try:
            engine = get_engine()
        except Exception as exc:  # a broken network must not take the pages down
            print(f"geoservice: road networks unavailable: {exc}")
            return
    sizes = ", ".join(f"{m} {n.n_nodes:,} nodes" for m, n in engine.networks.items())
    print(f"geoservice: routing ready in {time.perf_counter() - started:.1f} s ({sizes})")
    # Then the coverage tables of the walk view /coverage opens with (once per network).
    started = time.perf_counter()
    with app.app_context():
        try:
            get_coverage().warm(("walk",))
        except Exception as exc:  # the page builds them on first use instead
            print(f"geoservice: coverage tables not prepared: {exc}")
            return
    print(f"geoservice: coverage ready in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
