"""The staff's write API: tokens, roles and towns, the import's validation, versions
(ETag / If-Match), soft deletes, and every change in the audit log."""

from __future__ import annotations

import pytest
from conftest import assert_bilingual_error, login_as, make_app

from geoservice import crs
from geoservice.web import STORE_KEY

STATION = {"name": "测试暖心驿站", "lon": 116.8425, "lat": 40.3776, "opening_hours": "24/7"}
TOWN = "110118101"  # 溪翁庄镇
OTHER_TOWN = "110118102"


@pytest.fixture
def staff(app):
    return app.extensions["geoservice.staff"]


def _bearer(staff, role: str, towns: tuple[str, ...] = ()) -> dict:
    name = f"{role}-{len(staff.accounts.all())}"
    staff.accounts.create(name, role, "a long enough password", towns)
    return {"Authorization": f"Bearer {staff.accounts.issue_token(name)}"}


def test_writes_need_a_valid_token(client, staff):
    for r in (
        client.post("/api/stations", json=STATION),
        client.post("/api/stations", json=STATION, headers={"Authorization": "Bearer gs_nope"}),
        client.post("/api/stations", json=STATION, headers={"Authorization": "Basic eDp5"}),
        client.patch("/api/stations/WS001", json={"name": "x"}),
        client.delete("/api/stations/WS001"),
        client.post("/api/stations/WS001/restore"),
    ):
        assert_bilingual_error(r, 401, "Authorization")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert staff.journal.entries()[1] == 0  # nothing changed


def test_create_patch_delete_restore_with_versions(client, store, staff):
    h = _bearer(staff, "editor")
    r = client.post("/api/stations", json={**STATION, "amenities": ["热水", "wifi"]}, headers=h)
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["properties"]["id"]
    assert r.headers["Location"].endswith(f"/api/stations/{rid}")
    assert r.headers["ETag"] == '"1"'
    assert r.get_json()["properties"]["amenities"] == ["hot_water", "wifi"]
    assert r.get_json()["properties"]["source"] == "manual"
    got = client.get(f"/api/stations/{rid}")
    assert got.headers["ETag"] == '"1"'
    r = client.patch(
        f"/api/stations/{rid}", json={"name": "新名"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 200
    assert r.headers["ETag"] == '"2"'
    assert r.get_json()["properties"]["name"] == "新名"
    assert r.get_json()["properties"]["opening_hours"] == "24/7"  # the others stay
    # A stale version: 412, nothing changed.
    r = client.patch(f"/api/stations/{rid}", json={"name": "x"}, headers={**h, "If-Match": '"1"'})
    assert_bilingual_error(r, 412, "If-Match")
    assert client.get(f"/api/stations/{rid}").get_json()["properties"]["name"] == "新名"
    assert_bilingual_error(
        client.delete(f"/api/stations/{rid}", headers={**h, "If-Match": 'W/"1"'}), 412, "If-Match"
    )
    assert (
        client.delete(f"/api/stations/{rid}", headers={**h, "If-Match": '"2"'}).status_code == 204
    )
    assert_bilingual_error(client.get(f"/api/stations/{rid}"), 404, "station_id")
    r = client.post(f"/api/stations/{rid}/restore", headers=h)
    assert r.status_code == 200
    assert r.headers["ETag"] == '"3"'
    assert r.get_json()["properties"]["name"] == "新名"
    actions = [(e.action, e.user, e.via) for e in reversed(staff.journal.entries()[0])]
    assert [a for a, _, _ in actions] == ["create", "update", "delete", "restore"]
    assert {(u, v) for _, u, v in actions} == {("editor-0", "api")}


def test_bad_records_get_the_imports_words_and_change_nothing(client, store, staff):
    h = _bearer(staff, "editor")
    revision = store.revision()
    r = client.post(
        "/api/stations",
        json={"name": "", "lon": "abc", "lat": 40.3, "opening_hours": "每逢初一"},
        headers=h,
    )
    body = assert_bilingual_error(r, 422, r.get_json()["parameter"], extra=("errors",))
    columns = {e["column"] for e in body["errors"]}
    assert {"name", "lon", "opening_hours"} <= columns
    assert body["parameter"] in columns
    r = client.post("/api/stations", json={**STATION, "lon": 121.47, "lat": 31.23}, headers=h)
    body = assert_bilingual_error(r, 422, "lon", extra=("errors",))
    assert "区" in body["message_zh"]  # outside the district, named as the import names it
    r = client.post("/api/stations", json={**STATION, "colour": "red"}, headers=h)
    assert_bilingual_error(r, 422, "colour", extra=("errors",))
    r = client.post("/api/stations", json={**STATION, "name": {"x": 1}}, headers=h)
    assert_bilingual_error(r, 422, "name", extra=("errors",))
    r = client.post("/api/stations", data="name=x", headers=h, content_type="text/plain")
    assert_bilingual_error(r, 415, "body")
    r = client.post("/api/stations", json={**STATION, "id": "WS001"}, headers=h)
    assert_bilingual_error(r, 422, "id", extra=("errors",))
    r = client.patch("/api/stations/WS001", json={"id": "WS999"}, headers=h)
    assert_bilingual_error(r, 422, "id", extra=("errors",))
    r = client.patch("/api/stations/WS001", json={"name": "x"}, headers={**h, "If-Match": "v1"})
    assert_bilingual_error(r, 400, "If-Match")
    assert_bilingual_error(client.patch("/api/stations/NOPE", json={}, headers=h), 404, "id")
    assert store.revision() == revision


def test_a_duplicate_station_is_refused(client, store, staff):
    h = _bearer(staff, "editor")
    first = store.stations().iloc[0]
    r = client.post(
        "/api/stations",
        json={**STATION, "name": first["name"], "lon": first["lon"], "lat": first["lat"]},
        headers=h,
    )
    assert_bilingual_error(r, 422, r.get_json()["parameter"], extra=("errors",))


def test_coordinates_from_amap_and_baidu_are_converted(client, store, staff):
    h = _bearer(staff, "editor")
    for name, lon in (("gcj02", 116.85), ("bd09", 116.87)):
        x, y = crs.from_wgs84(lon, 40.38, name)
        r = client.post(
            "/api/stations",
            json={**STATION, "name": f"坐标 {name}", "lon": x, "lat": y, "crs": name},
            headers=h,
        )
        p = r.get_json()["properties"]
        assert crs.residual_m(p["lon"], p["lat"], lon, 40.38) < 1.0, name
    rid = p["id"]
    x, y = crs.from_wgs84(116.86, 40.39, "gcj02")
    r = client.patch(f"/api/stations/{rid}", json={"lon": x, "lat": y, "crs": "gcj02"}, headers=h)
    p = r.get_json()["properties"]
    assert crs.residual_m(p["lon"], p["lat"], 116.86, 40.39) < 1.0
    r = client.patch(f"/api/stations/{rid}", json={"lon": x, "crs": "gcj02"}, headers=h)
    assert_bilingual_error(r, 422, "lon", extra=("errors",))


def test_town_editors_write_their_towns_only(client, store, staff):
    h = _bearer(staff, "town_editor", (TOWN,))
    ours = store.stations().query("town_code == @TOWN").iloc[0]["id"]
    theirs = store.stations().query("town_code == @OTHER_TOWN").iloc[0]["id"]
    assert (
        client.patch(f"/api/stations/{ours}", json={"phone": "010-1234"}, headers=h).status_code
        == 200
    )
    for r in (
        client.patch(f"/api/stations/{theirs}", json={"phone": "010-1234"}, headers=h),
        client.delete(f"/api/stations/{theirs}", headers=h),
        client.patch(f"/api/stations/{ours}", json={"town_code": OTHER_TOWN}, headers=h),
        client.post("/api/stations", json={**STATION, "town_code": OTHER_TOWN}, headers=h),
        client.post("/api/stations", json=STATION, headers=h),  # no town: not theirs
    ):
        assert_bilingual_error(r, 403, "town_code")
    r = client.post("/api/stations", json={**STATION, "town": "溪翁庄镇"}, headers=h)
    assert r.status_code == 201, r.get_json()


def test_sites_are_written_the_same_way(client, store, staff):
    h = _bearer(staff, "editor")
    r = client.post(
        "/api/sites",
        json={"name": "保护点 99", "kind": "水库保护点", "lon": 116.95, "lat": 40.52},
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["properties"]["id"]
    assert client.get(f"/api/sites/{sid}").headers["ETag"] == '"1"'
    r = client.patch(f"/api/sites/{sid}", json={"service_minutes": 40}, headers=h)
    assert r.get_json()["properties"]["service_minutes"] == 40
    assert client.delete(f"/api/sites/{sid}", headers=h).status_code == 204
    assert client.post(f"/api/sites/{sid}/restore", headers=h).status_code == 200
    assert_bilingual_error(client.post("/api/sites/NOPE/restore", headers=h), 404, "id")


def test_an_edit_counts_in_nearest_answers_at_once(client, store, staff):
    h = _bearer(staff, "editor")
    near = client.get("/api/nearest?lon=116.8330&lat=40.3720&mode=walk&k=1").get_json()
    before = near["results"][0]["id"]
    r = client.post(
        "/api/stations",
        json={**STATION, "name": "就在这里", "lon": 116.8330, "lat": 40.3720},
        headers=h,
    )
    rid = r.get_json()["properties"]["id"]
    near = client.get("/api/nearest?lon=116.8330&lat=40.3720&mode=walk&k=1").get_json()
    assert near["results"][0]["id"] == rid != before
    client.delete(f"/api/stations/{rid}", headers=h)
    near = client.get("/api/nearest?lon=116.8330&lat=40.3720&mode=walk&k=1").get_json()
    assert near["results"][0]["id"] == before


def test_the_page_session_may_write_with_its_csrf_token(app, client):
    login_as(app, client, "editor")
    r = client.post("/api/stations", json=STATION)
    assert_bilingual_error(r, 401, "X-CSRFToken")
    page = client.get("/login").get_data(as_text=True)  # any page with the token
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    r = client.post("/api/stations", json=STATION, headers={"X-CSRFToken": token})
    assert r.status_code == 201


def test_disabling_a_user_revokes_its_tokens_at_once(client, staff):
    h = _bearer(staff, "editor")
    staff.accounts.update("editor-0", disabled=True)
    assert_bilingual_error(
        client.post("/api/stations", json=STATION, headers=h), 401, "Authorization"
    )


def test_reads_stay_public(client):
    assert client.get("/api/stations").status_code == 200
    assert client.get("/api/stations/WS001").status_code == 200


def test_the_cli_import_is_recorded_as_the_system_user(app, runner, tmp_path, staff):
    path = tmp_path / "new.csv"
    path.write_text("name,lon,lat,opening_hours\nCLI 驿站,116.85,40.38,24/7\n", encoding="utf-8")
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 0, r.output
    (entry,), _ = staff.journal.entries()
    assert (entry.user, entry.via, entry.action, entry.name) == (
        "system",
        "cli",
        "create",
        "CLI 驿站",
    )


def test_opening_the_shipped_seed_never_writes_it(tmp_path):
    from geoservice.store import GpkgStore
    from geoservice.web import DEFAULT_GPKG

    before = DEFAULT_GPKG.stat().st_mtime_ns
    GpkgStore(DEFAULT_GPKG).stations()
    make_app(tmp_path).extensions[STORE_KEY].stations()
    assert DEFAULT_GPKG.stat().st_mtime_ns == before
