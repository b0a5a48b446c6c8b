"""Every error answer: one JSON body under /api, the HTML page elsewhere, the same messages.

Through the test client (what Flask answers) and through a real waitress server on a free
loopback port (what waitress answers itself: requests it cannot parse or that exceed its
limits), with raw sockets so that bytes go out exactly as written.
"""

from __future__ import annotations

import pytest
from conftest import (
    GRID_STATIONS,
    assert_bilingual_error,
    assert_refused,
    make_app,
    stations_frame,
)

from geoservice import params

# -- ids with control characters ---------------------------------------------------------------

#: Escapes of characters no id holds: NUL, a C0 control, DEL, a C1 control (NEL, in UTF-8).
CONTROLS = ["%00", "%01", "%7f", "%c2%85"]


@pytest.fixture(scope="module")
def tour_app(tmp_path_factory):
    """A grid app (rate limits off, a short tour search) with one saved plan."""
    tmp = tmp_path_factory.mktemp("errors")
    app = make_app(
        tmp, stations=stations_frame(GRID_STATIONS), RATELIMIT_ENABLED=False, TOURS_ITERATIONS=50
    )
    saved = app.test_client().post("/api/tours", json={"depot": "T00", "stops": ["T01", "T02"]})
    assert saved.status_code == 201, saved.get_json()
    app.config["SAVED_TOUR"] = saved.get_json()["id"]
    return app


@pytest.fixture(scope="module")
def tour_client(tour_app):
    return tour_app.test_client()


@pytest.mark.parametrize("control", CONTROLS)
def test_station_ids_with_control_characters_are_refused(tour_client, control):
    assert tour_client.get("/api/stations/T01").status_code == 200
    for path in (f"/api/stations/T01{control}", f"/api/stations/{control}T01"):
        body = assert_bilingual_error(tour_client.get(path), 400, "station_id")
        assert "控制字符" in body["message_zh"]
        assert "control characters" in body["message_en"]


@pytest.mark.parametrize("control", CONTROLS)
def test_tour_ids_with_control_characters_are_refused(tour_app, tour_client, control):
    plan = tour_app.config["SAVED_TOUR"]
    assert tour_client.get(f"/api/tours/{plan}").status_code == 200
    for path in (f"/api/tours/{plan}{control}", f"/api/tours/{plan}{control}.gpx"):
        assert_bilingual_error(tour_client.get(path), 400, "tour_id")


def test_the_trailing_nul_no_longer_finds_the_station(tour_app):
    """pandas compares a str column with a scalar through numpy, which drops trailing NULs:
    the store lookup itself is exact too, whatever reaches it."""
    from geoservice.store import catalog
    from geoservice.web import get_store

    with tour_app.app_context():
        store = get_store()
        assert catalog.station_feature(store, "T01")["id"] == "T01"
        with pytest.raises(ValueError, match="T01"):
            catalog.station_feature(store, "T01\x00")


def test_the_id_reader():
    for raw in ("T01", "WS-001", "密云 1号", " T01", "x" * 5000):
        assert params.identifier(raw, "station_id") == raw  # exact, nothing stripped
    for raw in ("T01\x00", "\x1b[2J", "a\tb", "a\nb", "\x7f", "\x85", "\x9f", "a\ud800"):
        err = assert_refused(params.identifier, raw, "station_id", parameter="station_id")
        assert len(err.en) < 200
    assert_refused(params.identifier, "", "tour_id", parameter="tour_id")
    assert_refused(params.identifier, None, "tour_id", parameter="tour_id")
    assert_refused(params.identifier, 7, "tour_id", parameter="tour_id")
