"""The PostGIS store on its own: its URL, its errors, one transaction for several layers, and
apps on one database (`STORE_URL`, ``GEOSERVICE_STORE_URL``) that see each other's edits.

What it shares with the GeoPackage store is tested on both in tests/test_store.py.
"""

from __future__ import annotations

import getpass

import psycopg
import pytest
from conftest import GRID_STATIONS, make_app, stations_frame

from geoservice.errors import StoreError
from geoservice.store import GpkgStore, open_store
from geoservice.store.postgis import PostgisStore
from geoservice.web import DEFAULT_GPKG, STORE_KEY, create_app, get_district

SECRET = "s3cret-Pa55"


def test_open_store_chooses_by_location(pg_url, tmp_path):
    assert isinstance(open_store(pg_url, seed=DEFAULT_GPKG), PostgisStore)
    assert isinstance(open_store(tmp_path / "live.gpkg", seed=DEFAULT_GPKG), GpkgStore)


def test_unreachable_database_is_a_clear_error_without_the_password():
    url = f"postgresql://geo:{SECRET}@127.0.0.1:1/geoservice"
    with pytest.raises(StoreError, match="cannot connect to the store database") as caught:
        PostgisStore(url, seed=DEFAULT_GPKG)
    text = str(caught.value)
    assert "postgresql://geo@127.0.0.1:1/geoservice" in text
    assert SECRET not in text
    assert caught.value.__cause__ is None  # psycopg's own error is not chained into logs


def test_malformed_url_is_refused_without_echoing_it():
    with pytest.raises(StoreError, match="not a valid PostgreSQL URL") as caught:
        PostgisStore(f"postgresql://geo:{SECRET}@host/db?nonsense=1")
    assert SECRET not in str(caught.value)


def test_location_never_shows_the_password(pg_url):
    # The local socket's peer authentication asks for no password: libpq ignores it.
    user = getpass.getuser()
    url = pg_url.replace("postgresql:///", f"postgresql://{user}:{SECRET}@/")
    store = PostgisStore(url, seed=DEFAULT_GPKG)
    assert SECRET not in store.location()
    assert store.location().startswith(f"postgresql://{user}@/geoservice_test_")


def test_layers_of_one_write_commit_together(pg_url):
    store = PostgisStore(pg_url, seed=DEFAULT_GPKG)
    revision, boundary = store.revision(), store.read("boundary")

    def both(layers):
        reservoir = layers["reservoir"].copy()
        reservoir["x" * 70] = 1  # longer than PostgreSQL keeps: refused at the second layer
        return {"boundary": layers["boundary"].iloc[:0], "reservoir": reservoir}, None

    with pytest.raises(StoreError, match="column name"):
        store.update_layers(("boundary", "reservoir"), both)
    assert store.revision() == revision
    assert len(store.read("boundary")) == len(boundary) == 1


def test_a_new_column_changes_the_table(pg_url):
    store = PostgisStore(pg_url, seed=DEFAULT_GPKG)

    def add(layers):
        towns = layers["towns"].copy()
        towns["population"] = range(len(towns))
        return {"towns": towns}, None

    store.update_layers(("towns",), add)
    towns = PostgisStore(pg_url).read("towns")
    assert list(towns["population"]) == list(range(len(towns)))
    assert str(towns["population"].dtype) == "int64"


def test_a_lost_connection_is_opened_again(pg_url):
    store = PostgisStore(pg_url, seed=DEFAULT_GPKG)
    revision = store.revision()
    with psycopg.connect(pg_url, autocommit=True) as admin:  # as a server restart would
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert store.revision() == revision
    assert len(store.stations()) == 104


# -- apps ----------------------------------------------------------------------------------


def test_apps_on_one_database_see_each_others_edits(pg_url, tmp_path):
    one = make_app(tmp_path / "one", stations=stations_frame(GRID_STATIONS), STORE_URL=pg_url)
    two = make_app(tmp_path / "two", STORE_URL=pg_url)
    assert not (tmp_path / "one" / "live.gpkg").exists()
    assert not (tmp_path / "one" / "admin.sqlite").exists()  # the staff tables are in it too
    assert (tmp_path / "one" / "jobs.sqlite").exists()  # instance files stay in the folder
    a, b = one.test_client(), two.test_client()
    query = "/api/nearest?lon=116.8312&lat=40.3690&mode=walk&k=3"
    assert b.get("/api/stations").get_json()["features"]
    first = b.get(query)
    assert first.status_code == 200
    nearest = first.get_json()["results"][0]["id"]
    assert nearest == a.get(query).get_json()["results"][0]["id"]

    # An edit through the first app: the second answers from it at once, no restart.
    one.extensions[STORE_KEY].update("stations", lambda g: (g[g["id"] != nearest], None))
    ids = {f["id"] for f in b.get("/api/stations").get_json()["features"]}
    assert nearest not in ids
    assert len(ids) == len(GRID_STATIONS) - 1
    after = b.get(query).get_json()["results"]
    assert nearest not in {r["id"] for r in after}


def test_store_url_in_the_environment_wins_over_store_path(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSERVICE_STORE_URL", pg_url)
    app = make_app(tmp_path)  # passes STORE_PATH
    store = app.extensions[STORE_KEY]
    assert isinstance(store, PostgisStore)
    assert store.location() == PostgisStore(pg_url).location()
    assert not (tmp_path / "live.gpkg").exists()
    result = app.test_cli_runner().invoke(args=["store", "info"])
    assert result.exit_code == 0, result.output
    assert "postgresql://" in result.output


def test_bad_store_url_stops_the_app_at_start(tmp_path):
    with pytest.raises(StoreError, match="cannot connect") as caught:
        create_app(
            {
                "TESTING": True,
                "STORE_PATH": str(tmp_path / "live.gpkg"),
                "STORE_URL": f"postgresql://geo:{SECRET}@127.0.0.1:1/geoservice",
            }
        )
    assert SECRET not in str(caught.value)


def test_district_set_through_one_app_is_the_others_profile(pg_url, tmp_path):
    one = make_app(tmp_path / "one", STORE_URL=pg_url)
    two = make_app(tmp_path / "two", STORE_URL=pg_url)
    with two.app_context():
        assert get_district().org == "密云区总工会"  # read once, cached by revision
    boundary = tmp_path / "miyun.geojson"
    one.extensions[STORE_KEY].read("boundary")[["geometry"]].to_file(boundary, driver="GeoJSON")
    r = one.test_cli_runner().invoke(
        args=[
            *("district", "set", "--boundary", str(boundary), "--name", "密云区"),
            *("--code", "110118", "--org", "密云区总工会职工服务中心"),
        ]
    )
    assert r.exit_code == 0, r.output
    with two.app_context():
        after = get_district()
    assert after.org == "密云区总工会职工服务中心"
    assert after.depot_town  # the towns, water and depot came along in the same write
    assert len(after.waters) == 1
    title = "找最近的暖心驿站 · 密云区总工会职工服务中心"
    assert f"<title>{title}</title>" in two.test_client().get("/nearest").get_data(as_text=True)
