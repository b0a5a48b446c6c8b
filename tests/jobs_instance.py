"""The app a job worker subprocess of tests/test_jobs.py serves: the grid test app, jobs on a
queue (SQLite, or Redis from ``GEOSERVICE_JOBS_BROKER``), under ``GEOSERVICE_TEST_INSTANCE``.

``flask --app jobs_instance:app jobs worker`` (with tests/ on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import GRID_STATIONS, make_app, stations_frame
from flask import Flask


def make(tmp: Path, broker: str = "") -> Flask:
    """The grid app under ``tmp`` with jobs on the ``broker``'s queue (a short tour search)."""
    return make_app(
        tmp,
        stations=stations_frame(GRID_STATIONS),
        JOBS_MODE="queue",
        JOBS_BROKER=broker,
        RATELIMIT_ENABLED=False,
        TOURS_ITERATIONS=50,
    )


app = (
    make(Path(os.environ["GEOSERVICE_TEST_INSTANCE"]), os.environ.get("GEOSERVICE_JOBS_BROKER", ""))
    if "GEOSERVICE_TEST_INSTANCE" in os.environ
    else None
)
