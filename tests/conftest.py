"""Shared fixtures: an app on a fresh copy of the embedded data, its client and CLI runner."""

from __future__ import annotations

import pytest

from geoservice.web import STORE_KEY, create_app


@pytest.fixture
def app(tmp_path):
    """An app whose live store is a fresh copy of data/miyun.gpkg; no basemap tiles."""
    return create_app({"TESTING": True, "STORE_PATH": str(tmp_path / "live.gpkg"), "TILES": ""})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def store(app):
    return app.extensions[STORE_KEY]
