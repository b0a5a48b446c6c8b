"""Entry point: ``flask --app app run`` / ``flask --app app stations ...`` or ``python app.py``.

``python app.py [--host H] [--port P]`` serves with waitress (host/port also from
``GEOSERVICE_HOST`` / ``GEOSERVICE_PORT``; default 127.0.0.1:5000).
"""

from __future__ import annotations

import argparse
import os

from geoservice.web import create_app

app = create_app()


def main() -> None:
    """Serve the app with waitress."""
    parser = argparse.ArgumentParser(description="密云区总工会 geoservice")
    parser.add_argument("--host", default=os.environ.get("GEOSERVICE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GEOSERVICE_PORT", "5000")))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    import waitress

    print(f"geoservice: http://{args.host}:{args.port}/  (store: {app.config['STORE_PATH']})")
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads)


if __name__ == "__main__":
    main()
