"""One station record and one open rule: an unreadable stored value never takes a page down."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import GRID_STATIONS, stations_frame

from geoservice.hours import INVALID_ZH
from geoservice.model import Station

BAD_HOURS = ["Mo-Fr 25:00-26:00", "周八 全天??", "", "nan", "Mo-Fr 08:00-18:00 ;; ;"]


@pytest.fixture
def bad_hours_client(grid_app):
    """The grid stations with unreadable opening hours written straight into the store,
    as an edit in QGIS could (no validation on that path)."""
    hours = ["24/7", *BAD_HOURS[: len(GRID_STATIONS) - 1]]
    frame = stations_frame(GRID_STATIONS, hours=hours)
    grid_app.extensions["geoservice.store"].update("stations", lambda g: (frame, None))
    return grid_app.test_client()


def _station(**fields) -> Station:
    """A warm station X1 read from a row with these fields added."""
    row = {"id": "X1", "name": "站", "kind": "warm_station", "lon": 116.8, "lat": 40.4}
    return Station.from_row(row | fields)


def test_record_of_unreadable_hours_is_closed_and_says_so():
    st = _station(
        opening_hours="Mo-Fr 25:00-26:00", amenities="hot_water;bogus;charging", capacity="n/a"
    )
    rec = st.record(dt.datetime(2026, 11, 25, 10, 0))
    assert rec["open_now"] is False
    assert rec["hours_valid"] is False
    assert rec["status"] == INVALID_ZH
    assert rec["hours_zh"] == INVALID_ZH
    assert rec["amenities"] == ["hot_water", "charging"]
    assert rec["capacity"] is None


def test_valid_hours_record():
    st = _station(opening_hours="Mo-Fr 08:00-18:00")
    rec = st.record(dt.datetime(2026, 11, 25, 10, 0))  # a Wednesday
    assert rec["open_now"] is True
    assert rec["hours_valid"] is True
    assert rec["next_open"].startswith("2026-11-25T10:00")
    assert rec["kind_label"] == "暖心驿站"


def test_pages_and_api_survive_unreadable_hours(bad_hours_client):
    c = bad_hours_client
    assert c.get("/").status_code == 200
    assert INVALID_ZH in c.get("/").get_data(as_text=True)
    doc = c.get("/api/stations").get_json()
    bad = [f for f in doc["features"] if not f["properties"]["hours_valid"]]
    assert len(bad) == len(GRID_STATIONS) - 1
    for f in bad:
        assert f["properties"]["status"] == INVALID_ZH
        assert f["properties"]["open_now"] is False
        one = c.get(f"/api/stations/{f['id']}")
        assert one.status_code == 200
        assert one.get_json()["properties"]["status"] == INVALID_ZH


def test_nearest_treats_unreadable_hours_as_closed(bad_hours_client):
    lon, lat = GRID_STATIONS[2]
    r = bad_hours_client.get(f"/api/nearest?lon={lon}&lat={lat}&mode=walk&k=5&open=0")
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert {x["id"] for x in results if x["hours_valid"]} == {"T00"}
    for x in results:
        if not x["hours_valid"]:
            assert x["open_now"] is False
            assert x["status"] == INVALID_ZH
    r = bad_hours_client.get(f"/api/nearest?lon={lon}&lat={lat}&mode=walk&k=5")
    assert [x["id"] for x in r.get_json()["results"]] == ["T00"]
