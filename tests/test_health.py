"""The probes beside the API (issue 14): ``/healthz`` (alive), ``/readyz`` (ready once the
routing engine of the active network is built, 503 with Retry-After before, never loading
anything itself), and ``/api/health`` without the store's absolute path."""

from __future__ import annotations

import json

from conftest import assert_bilingual_error, make_app

from geoservice import service
from geoservice.web import ENGINE_KEY, get_engine


def test_healthz_answers_alive_without_loading_anything(tmp_path):
    app = make_app(tmp_path)
    r = app.test_client().get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "alive"}
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # the app-wide headers
    assert app.extensions[ENGINE_KEY].built is None


def test_readyz_is_503_until_the_networks_are_loaded_then_200(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    provider = app.extensions[ENGINE_KEY]
    for _ in range(2):  # asking does not load them
        r = client.get("/readyz")
        body = assert_bilingual_error(r, 503, None)
        assert "路网" in body["message_zh"]
        assert r.headers["Retry-After"] == str(service.READY_RETRY_S)
        assert provider.built is None
    # What app.py's background thread does at start.
    with app.app_context():
        get_engine()
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ready"}
    assert "Retry-After" not in r.headers


def test_readyz_is_503_when_the_active_network_is_gone(tmp_path):
    app = make_app(tmp_path, NETWORK_DEFAULT=str(tmp_path / "missing.osm"))
    assert app.test_client().get("/readyz").status_code == 503


def test_api_health_shows_no_path(tmp_path):
    app = make_app(tmp_path)
    r = app.test_client().get("/api/health")
    assert r.status_code == 200
    health = r.get_json()
    assert set(health) == {"status", "revision", "stations", "sites"}
    text = json.dumps(health, ensure_ascii=False)
    assert str(tmp_path) not in text
    assert "live.gpkg" not in text
    assert "/" not in text
