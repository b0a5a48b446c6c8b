"""The home page HTML: offline assets, escaping, sample notice, caching by revision."""

from __future__ import annotations

import pytest
from conftest import offline_page

from geoservice.store import catalog


def test_home_page_is_offline_zh_and_flags_sample(client):
    html, _ = offline_page(client, "/", "密云区暖心驿站地图")
    assert "示例数据" in html


def test_osm_tiles_when_configured(app):
    app.config["TILES"] = "osm"
    html = app.test_client().get("/").get_data(as_text=True)
    assert "tile.openstreetmap.org" in html
    assert "OpenStreetMap" in html


def test_data_text_is_html_escaped(client, store, tmp_path):
    evil = '<img src=x onerror="alert(1)">'
    path = tmp_path / "evil.csv"
    path.write_text(
        "name,lon,lat,opening_hours,address,phone\n"
        f'"{evil.replace(chr(34), chr(34) * 2)}",116.84,40.37,24/7,"<b>街</b>",010-1\n',
        encoding="utf-8",
    )
    catalog.import_file(store, "stations", path)
    html = client.get("/").get_data(as_text=True)
    assert "<img src=x" not in html
    assert "<b>街</b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


@pytest.mark.slow
def test_page_follows_store_edits(client, store):
    before = client.get("/").get_data(as_text=True)
    # Ids are not shown, names are (the report box carries its station's id as data).
    assert "WS001" not in before.replace('data-station-id="WS001"', "")
    assert 'data-station-id="WS001"' in before
    name = store.stations().set_index("id").loc["WS001", "name"]
    shown = f'<b class="popup-name"><bdi>{name}</bdi></b>'
    assert shown in before
    store.update("stations", lambda g: (g.loc[g["id"] != "WS001"], None))
    after = client.get("/").get_data(as_text=True)
    assert shown not in after
    assert 'data-station-id="WS001"' not in after


def test_favicon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200
    assert b"<svg" in r.data


def test_schematic_road_label_only_where_the_page_has_no_banner(client):
    # /nearest shows its own schematic banner; the map label is for the home page only.
    assert "data.schematic && true" in client.get("/").get_data(as_text=True)
    assert "data.schematic && false" in client.get("/nearest").get_data(as_text=True)
