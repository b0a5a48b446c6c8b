"""The back office's stations and sites (/admin/stations, /admin/sites): list, search,
filters, add, edit, move (map, pasted Amap/Baidu coordinates), delete, restore; who may
edit what; the audit log; hostile names; the phone in a real Chromium."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from conftest import (
    HOSTILE_NAMES,
    make_app,
    needs_chromium,
    serving,
    stations_frame,
    watched_page,
)

from geoservice import crs, escape, hours, maps
from geoservice.admin.audit import LogFilter
from geoservice.errors import ValidationError
from geoservice.model import Station
from geoservice.store import catalog, records
from geoservice.web import STORE_KEY
from geoservice.web.admin.records import PER_PAGE, parse_paste

PASSWORD = "correct-horse-9"
GULOU = "110118001"  # 鼓楼街道: the town editor's town
OTHER_TOWN = "110118100"  # 密云镇


def _accounts(app):
    return app.extensions["geoservice.staff"].accounts


def _journal(app):
    return app.extensions["geoservice.staff"].journal


def staff(app):
    """Give ``app`` the usual accounts: an admin, an editor and a 鼓楼 town editor."""
    _accounts(app).create("admin1", "admin", PASSWORD)
    _accounts(app).create("editor1", "editor", PASSWORD)
    _accounts(app).create("gulou", "town_editor", PASSWORD, (GULOU,))
    return app


def login(client, name: str, password: str = PASSWORD, **data) -> None:
    r = client.post("/login", data={"name": name, "password": password, **data})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]


@pytest.fixture
def app(tmp_path):
    """The shipped data, no CSRF (it is the subject of its own test) and no rate limits."""
    return staff(make_app(tmp_path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False))


@pytest.fixture
def store(app):
    return app.extensions[STORE_KEY]


def as_user(app, name: str):
    client = app.test_client()
    login(client, name)
    return client


# -- reading pages as a browser does ------------------------------------------------------


class _Form(HTMLParser):
    """The fields a browser would submit with the form ``form_id`` (its successful
    controls: enabled, named, checked boxes only, each select's selected option)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.disabled = 0
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.fields: list[tuple[str, str]] = []
        self.action: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside, self.action = True, a.get("action")
        if not self.inside:
            return
        if tag == "fieldset" and "disabled" in a:
            self.disabled += 1
        if self.disabled or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self.select, self.options = a.get("name"), []
        elif tag == "option" and self.select is not None:
            self.options.append((a.get("value", ""), "selected" in a))

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "fieldset" and self.disabled:
            self.disabled -= 1
        elif tag == "select" and self.select is not None:
            chosen = [v for v, s in self.options if s] or [v for v, _ in self.options[:1]]
            self.fields += [(self.select, v) for v in chosen]
            self.select = None
        elif tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str = "record-form") -> dict[str, list[str]]:
    """A form's successful controls as name → values."""
    parser = _Form(form_id)
    parser.feed(html)
    out: dict[str, list[str]] = {}
    for k, v in parser.fields:
        out.setdefault(k, []).append(v)
    return out


def record_form(client, path: str) -> dict[str, list[str]]:
    r = client.get(path)
    assert r.status_code == 200, path
    return form_fields(r.get_data(as_text=True))


def field_block(html: str, field: str) -> str:
    """The form's block of one field (``<div … id="f-name">`` or the position section)."""
    start = html.index(f'id="f-{field}"')
    end = html.find('<div class="field', start + 10)
    section_end = html.find("</section>", start)
    if field == "lon" or end < 0:
        end = section_end
    return html[start:end]


def new_station(**fields) -> dict[str, list[str]]:
    """The form of a new station, as a browser would send it."""
    data = {
        "name": "新建测试驿站",
        "kind": "warm_station",
        "town_code": GULOU,
        "opening_hours": "24/7",
        "source": "manual",
        "crs": "gcj02",
        "paste": "",
        "lon": "116.8312",
        "lat": "40.3680",
        **fields,
    }
    return {k: v if isinstance(v, list) else [v] for k, v in data.items()}


def stored(store, layer: str, rid: str) -> dict:
    gdf = store.read(layer)
    hit = gdf.loc[gdf["id"] == rid]
    assert len(hit) == 1, rid
    return hit.iloc[0].to_dict()


def other_town_station(store) -> str:
    st = store.stations()
    return str(st.loc[st["town_code"] == OTHER_TOWN, "id"].iloc[0])


# -- logins ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin/stations",
        "/admin/sites",
        "/admin/stations?view=deleted&q=WS",
        "/admin/stations/new",
        "/admin/stations/WS001",
        "/admin/sites/new",
        "/admin/stations/WS001/delete",
        "/admin/users",
        "/admin/tokens",
        "/admin/preview/hours?text=24/7",
    ],
)
def test_every_page_needs_a_login_and_comes_back_after_it(app, path):
    client = app.test_client()
    r = client.get(path)
    assert r.status_code == 302
    target = urlsplit(r.headers["Location"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == [path]
    r = client.post("/login?" + target.query, data={"name": "editor1", "password": PASSWORD})
    assert r.status_code == 302
    assert r.headers["Location"] == path


def test_writes_need_a_login_and_change_nothing(app, store):
    client = app.test_client()
    before = store.revision()
    for path, data in [
        ("/admin/stations/new", new_station()),
        ("/admin/stations/WS001", new_station(version="1")),
        ("/admin/stations/WS001/delete", {"version": "1"}),
        ("/admin/stations/WS001/restore", {}),
    ]:
        r = client.post(path, data=data)
        assert r.status_code == 302
        assert urlsplit(r.headers["Location"]).path == "/login"
    assert store.revision() == before


def test_the_forms_are_csrf_protected(tmp_path):
    app = staff(make_app(tmp_path, RATELIMIT_ENABLED=False))
    store = app.extensions[STORE_KEY]
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    login(client, "editor1", csrf_token=token.group(1))
    form = record_form(client, "/admin/stations/new")
    assert form["csrf_token"][0]
    before = len(store.stations())
    data = {**new_station(), "csrf_token": []}
    r = client.post("/admin/stations/new", data=data)
    assert r.status_code == 400
    assert len(store.stations()) == before
    r = client.post("/admin/stations/new", data={**new_station(), "csrf_token": form["csrf_token"]})
    assert r.status_code == 302
    assert len(store.stations()) == before + 1


# -- the list --------------------------------------------------------------------------------


def test_the_list_pages_searches_and_filters(app, store):
    client = as_user(app, "editor1")
    total = len(store.stations())
    html = client.get("/admin/stations").get_data(as_text=True)
    assert f"共 {total} 条" in html
    assert html.count('data-label="编号"') == PER_PAGE
    assert f"第 1 / {-(-total // PER_PAGE)} 页" in html
    # Past the last page: the last page.
    last = client.get("/admin/stations?page=999").get_data(as_text=True)
    assert last.count('data-label="编号"') == total - PER_PAGE * (total // PER_PAGE)
    # Search by id, name, address (every word must match).
    first = stored(store, "stations", "WS001")
    for q in ("ws001", first["name"][2:6], first["address"][-6:]):
        html = client.get("/admin/stations", query_string={"q": q}).get_data(as_text=True)
        assert "/admin/stations/WS001" in html, q
    html = client.get("/admin/stations?q=WS001+不存在的词").get_data(as_text=True)
    assert "没有符合条件的驿站" in html
    # Town, kind and source filters.
    html = client.get(f"/admin/stations?town={OTHER_TOWN}").get_data(as_text=True)
    want = store.stations()["town_code"].eq(OTHER_TOWN).sum()
    assert f"共 {want} 条（已筛选）" in html
    html = client.get("/admin/stations?kind=caravan_base").get_data(as_text=True)
    assert f"共 {store.stations()['kind'].eq('caravan_base').sum()} 条" in html
    html = client.get("/admin/stations?source=manual").get_data(as_text=True)
    assert "共 0 条" in html
    # Unknown filter values are no filter.
    html = client.get("/admin/stations?kind=<x>&town=nowhere&page=-3").get_data(as_text=True)
    assert f"共 {total} 条" in html
    # Sites: the same list.
    html = client.get("/admin/sites?kind=reservoir_site").get_data(as_text=True)
    assert f"共 {store.sites()['kind'].eq('reservoir_site').sum()} 条" in html


def test_open_now_is_the_one_open_rule(tmp_path):
    hours_ = ["24/7", "Mo-Su off", "24/7", "Mo-Su off", "Mo-Fr 08:00-18:00; PH off"]
    points = [(116.8301 + i * 0.001, 40.3689) for i in range(len(hours_))]
    app = staff(
        make_app(tmp_path, stations=stations_frame(points, hours=hours_), WTF_CSRF_ENABLED=False)
    )
    client = as_user(app, "editor1")
    html = client.get("/admin/stations?open=1").get_data(as_text=True)
    at = hours.as_local(None)
    expected = [
        s.id
        for s in Station.from_frame(app.extensions[STORE_KEY].stations())
        if s.record(at)["open_now"]
    ]
    shown = re.findall(r'data-label="编号"><a href="/admin/stations/([^"]+)"', html)
    assert shown == expected
    assert {"T00", "T02"} <= set(shown)
    assert not {"T01", "T03"} & set(shown)


# -- permissions -----------------------------------------------------------------------------


def test_a_town_editor_edits_its_town_only(app, store):
    client = as_user(app, "gulou")
    other = other_town_station(store)
    # The list: actions for its own town's records only.
    html = client.get(f"/admin/stations?town={GULOU}").get_data(as_text=True)
    assert "/admin/stations/WS001/delete" in html
    assert "只读" not in html
    html = client.get(f"/admin/stations?town={OTHER_TOWN}").get_data(as_text=True)
    assert "/delete" not in html
    assert "只读" in html
    # The form of another town's station: read-only, no save, no delete.
    html = client.get(f"/admin/stations/{other}").get_data(as_text=True)
    assert '<fieldset class="record-fields" disabled>' in html
    assert 'id="record-save"' not in html
    assert f"/admin/stations/{other}/delete" not in html
    assert "鼓楼街道" in html.split('id="readonly-note"')[1].split("</p>")[0]
    # The server refuses anyway: edit, move, delete; nothing changes.
    before = stored(store, "stations", other)
    editor_form = record_form(as_user(app, "editor1"), f"/admin/stations/{other}")
    r = client.post(f"/admin/stations/{other}", data={**editor_form, "name": ["改名"]})
    assert r.status_code == 403
    assert client.get(f"/admin/stations/{other}/delete").status_code == 403
    r = client.post(f"/admin/stations/{other}/delete", data={"version": "1"})
    assert r.status_code == 403
    assert stored(store, "stations", other) == before
    # Nor may it move its own station into another town, or add one there.
    own = record_form(client, "/admin/stations/WS001")
    r = client.post("/admin/stations/WS001", data={**own, "town_code": [OTHER_TOWN]})
    assert r.status_code == 403
    r = client.post("/admin/stations/new", data=new_station(town_code=OTHER_TOWN))
    assert r.status_code == 403
    assert "无权修改乡镇" in r.get_data(as_text=True)
    # Its own town: saved.
    r = client.post("/admin/stations/WS001", data={**own, "name": ["鼓楼新名字驿站"]})
    assert r.status_code == 302
    assert stored(store, "stations", "WS001")["name"] == "鼓楼新名字驿站"
    # The new form offers its own towns only.
    form = record_form(client, "/admin/stations/new")
    assert form["town_code"] == [GULOU]
    html = client.get("/admin/stations/new").get_data(as_text=True)
    assert OTHER_TOWN not in field_block(html, "town_code")


# -- add, edit, move -------------------------------------------------------------------------


def test_pasted_amap_and_baidu_coordinates_end_at_their_wgs84_position(app, store):
    client = as_user(app, "editor1")
    amap = (116.8432, 40.3768)
    r = client.post(
        "/admin/stations/new",
        data=new_station(
            name="高德坐标驿站", paste=f"{amap[0]},{amap[1]}", crs="gcj02", lon="", lat=""
        ),
    )
    assert r.status_code == 302
    rid = r.headers["Location"].rsplit("/", 1)[1]
    rec = stored(store, "stations", rid)
    want = crs.gcj02_to_wgs84(*amap)
    assert crs.residual_m(rec["lon"], rec["lat"], *want) < 1.0
    # The preview the form's script shows is the same conversion.
    preview = client.get(
        "/admin/preview/position", query_string={"text": f"{amap[0]}，{amap[1]}", "crs": "gcj02"}
    ).get_json()
    assert preview["ok"]
    assert preview["inside"]
    assert crs.residual_m(preview["lon"], preview["lat"], *want) < 1.0
    # An edit that leaves the position alone keeps it (no second conversion).
    form = record_form(client, f"/admin/stations/{rid}")
    assert form["paste"] == [""]
    r = client.post(f"/admin/stations/{rid}", data={**form, "name": ["高德坐标驿站（改）"]})
    assert r.status_code == 302
    again = stored(store, "stations", rid)
    assert (again["lon"], again["lat"]) == (rec["lon"], rec["lat"])
    # Moved with Baidu coordinates pasted over the (WGS84) lon/lat the form still holds.
    baidu = "经度 116.8531 纬度 40.3861"
    form = record_form(client, f"/admin/stations/{rid}")
    r = client.post(f"/admin/stations/{rid}", data={**form, "paste": [baidu], "crs": ["bd09"]})
    assert r.status_code == 302
    moved = stored(store, "stations", rid)
    assert crs.residual_m(moved["lon"], moved["lat"], *crs.bd09_to_wgs84(116.8531, 40.3861)) < 1.0
    assert moved["version"] == 3
    # Moved on the map: the lon/lat inputs, WGS84 as they are.
    form = record_form(client, f"/admin/stations/{rid}")
    r = client.post(f"/admin/stations/{rid}", data={**form, "lon": ["116.85"], "lat": ["40.38"]})
    assert r.status_code == 302
    assert (stored(store, "stations", rid)["lon"], stored(store, "stations", rid)["lat"]) == (
        116.85,
        40.38,
    )


def test_parse_paste_reads_what_map_sites_copy():
    assert parse_paste("116.397428,39.90923") == ("116.397428", "39.90923")
    assert parse_paste("116.397428, 39.90923") == ("116.397428", "39.90923")
    assert parse_paste("１１６.３９，３９.９０") == ("116.39", "39.90")
    assert parse_paste("经度：116.39 纬度：39.9") == ("116.39", "39.9")
    for bad in ("", "116.39", "1,2,3", "abc"):
        with pytest.raises(Exception, match="经度,纬度"):
            parse_paste(bad)


def test_a_saved_station_counts_in_nearest_answers_at_once(tmp_path):
    from conftest import GRID_STATIONS

    app = staff(
        make_app(
            tmp_path,
            stations=stations_frame(GRID_STATIONS),
            WTF_CSRF_ENABLED=False,
            RATELIMIT_ENABLED=False,
        )
    )
    client = as_user(app, "editor1")
    where = {"lon": 116.8312, "lat": 40.3680, "mode": "walk", "k": 1}  # on 南街
    before = client.get("/api/nearest", query_string=where).get_json()["results"][0]["id"]
    r = client.post(
        "/admin/stations/new",
        data=new_station(name="南街驿站", lon="116.8312", lat="40.3680", crs="wgs84"),
    )
    assert r.status_code == 302
    rid = r.headers["Location"].rsplit("/", 1)[1]
    assert rid != before
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "并已计入最近驿站查询、覆盖分析和大篷车路线" in page
    answer = client.get("/api/nearest", query_string=where).get_json()
    assert answer["results"][0]["id"] == rid
    # And out again when deleted.
    client.post(f"/admin/stations/{rid}/delete", data={"version": "1"})
    assert client.get("/api/nearest", query_string=where).get_json()["results"][0]["id"] == before


def test_chinese_opening_hours_are_stored_as_osm(app, store):
    client = as_user(app, "editor1")
    r = client.post(
        "/admin/stations/new", data=new_station(opening_hours="周一至周五 8:00-17:30", lon="116.84")
    )
    assert r.status_code == 302
    rid = r.headers["Location"].rsplit("/", 1)[1]
    assert stored(store, "stations", rid)["opening_hours"] == "Mo-Fr 08:00-17:30"
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "开放时间已按 OSM 格式保存为「Mo-Fr 08:00-17:30」" in html
    assert "周一至周五 08:00–17:30" in field_block(html, "opening_hours")
    preview = client.get("/admin/preview/hours", query_string={"text": "每天 7点-20点"}).get_json()
    assert preview == {
        "ok": True,
        "osm": "Mo-Su 07:00-20:00",
        "changed": True,
        "zh": hours.format_zh("Mo-Su 07:00-20:00"),
    }
    bad = client.get("/admin/preview/hours", query_string={"text": "周一至周八"}).get_json()
    assert bad["ok"] is False
    assert "周八" in bad["message"]


def test_errors_show_next_to_their_fields_in_the_imports_words(app, store, tmp_path):
    client = as_user(app, "editor1")
    row = {
        "name": "坏数据驿站<b>",
        "opening_hours": "周一至周八 8点",
        "lon": "116.30",
        "lat": "39.90",
    }
    before = store.revision()
    r = client.post("/admin/stations/new", data=new_station(**row, capacity="很多"))
    assert r.status_code == 200  # the form again, with its problems
    assert store.revision() == before
    html = r.get_data(as_text=True)
    # The import's messages for the same cells.
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "name,kind,lon,lat,opening_hours,town_code,capacity\n"
        f"{row['name']},warm_station,{row['lon']},{row['lat']},{row['opening_hours']},{GULOU},很多\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", csv)
    expected = {e.column: e.message for e in info.value.errors}
    assert set(expected) == {"opening_hours", "lon", "capacity"}
    assert escape.html(expected["opening_hours"]) in field_block(html, "opening_hours")
    assert escape.html(expected["lon"]) in field_block(html, "lon")  # outside the district
    assert "界外" in expected["lon"]
    assert escape.html(expected["capacity"]) in field_block(html, "capacity")
    # The summary links to each field; what was typed is all still there.
    assert 'href="#f-opening_hours"' in html
    form = form_fields(html)
    assert form["name"] == [row["name"]]
    assert form["opening_hours"] == [row["opening_hours"]]
    assert (form["lon"], form["lat"]) == ([row["lon"]], [row["lat"]])
    assert 'aria-invalid="true"' in field_block(html, "opening_hours")


def test_a_stale_version_says_so_and_keeps_what_was_typed(app, store):
    mine = as_user(app, "editor1")
    form = record_form(mine, "/admin/stations/WS001")
    assert form["version"] == ["1"]
    # Someone else saves first.
    theirs = as_user(app, "admin1")
    r = theirs.post("/admin/stations/WS001", data={**form, "phone": ["010-88886666"]})
    assert r.status_code == 302
    r = mine.post("/admin/stations/WS001", data={**form, "name": ["我改的名字"]})
    assert r.status_code == 200  # the form again, with the message
    html = r.get_data(as_text=True)
    conflict = html.split('id="conflict"')[1].split("</div>")[0]
    assert "没有保存：这条记录在你打开之后已被修改" in conflict
    assert "admin1" in conflict
    assert "联系电话" in conflict  # what the other change touched
    assert 'href="/admin/stations/WS001" id="conflict-reload"' in conflict
    assert form_fields(html)["name"] == ["我改的名字"]  # nothing lost
    rec = stored(store, "stations", "WS001")
    assert (rec["phone"], rec["version"]) == ("010-88886666", 2)
    assert rec["name"] == form["name"][0]  # theirs kept, mine not written


def test_a_site_gets_its_first_position_on_the_map(app, store):
    client = as_user(app, "editor1")
    site = store.sites().iloc[0]
    assert site["coord_source"] == "missing"
    form = record_form(client, f"/admin/sites/{site['id']}")
    assert form["lon"] == [""]
    r = client.post(
        f"/admin/sites/{site['id']}", data={**form, "lon": ["116.84"], "lat": ["40.37"]}
    )
    assert r.status_code == 302
    rec = stored(store, "sites", site["id"])
    assert (rec["lon"], rec["lat"], rec["coord_source"]) == (116.84, 40.37, "manual")
    # A new reservoir site, by pasted Amap coordinates.
    r = client.post(
        "/admin/sites/new",
        data={
            "name": ["新保护点"],
            "kind": ["reservoir_site"],
            "town_code": [OTHER_TOWN],
            "coord_source": ["manual"],
            "source": ["manual"],
            "paste": ["116.86,40.40"],
            "crs": ["gcj02"],
            "lon": [""],
            "lat": [""],
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    rid = r.headers["Location"].rsplit("/", 1)[1]
    rec = stored(store, "sites", rid)
    assert crs.residual_m(rec["lon"], rec["lat"], *crs.gcj02_to_wgs84(116.86, 40.40)) < 1.0


def test_a_likely_duplicate_is_saved_only_when_confirmed(app, store):
    client = as_user(app, "editor1")
    ws001 = stored(store, "stations", "WS001")
    data = new_station(name=ws001["name"], lon=str(ws001["lon"] + 0.0001), lat=str(ws001["lat"]))
    r = client.post("/admin/stations/new", data=data)
    html = r.get_data(as_text=True)
    assert "疑似重复" in field_block(html, "name")
    assert 'name="allow_duplicate"' in html
    assert len(store.stations()) == 104
    r = client.post("/admin/stations/new", data={**data, "allow_duplicate": ["1"]})
    assert r.status_code == 302
    assert len(store.stations()) == 105


def test_times_are_shown_in_beijing_time():
    from geoservice.hours import beijing as beijing_time  # the back office's |beijing filter

    assert beijing_time("2026-12-05T10:04:37+00:00") == "2026-12-05 18:04"
    assert beijing_time("2026-12-31T20:00:00") == "2027-01-01 04:00"  # stored UTC, naive
    assert beijing_time(None) == ""
    assert beijing_time("not a time") == "not a time"


# -- delete, restore, the audit log ----------------------------------------------------------


def test_delete_lists_under_deleted_and_restore_brings_it_back(app, store):
    client = as_user(app, "editor1")
    name = stored(store, "stations", "WS001")["name"]
    html = client.get("/admin/stations/WS001/delete").get_data(as_text=True)
    assert "确认删除" in html
    assert name in html
    assert store.stations()["id"].eq("WS001").any()  # the confirmation page deleted nothing
    r = client.post("/admin/stations/WS001/delete", data={"version": "1"})
    assert r.status_code == 302
    assert r.headers["Location"] == "/admin/stations?view=deleted"
    assert not store.stations()["id"].eq("WS001").any()
    assert client.get("/api/stations/WS001").status_code == 404
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已删除驿站 WS001" in html
    assert 'action="/admin/stations/WS001/restore"' in html
    assert name in html
    # Its old address leads to the deleted list, searched for it.
    r = client.get("/admin/stations/WS001")
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["Location"]).query) == {"view": ["deleted"], "q": ["WS001"]}
    r = client.post("/admin/stations/WS001/restore")
    assert r.status_code == 302
    assert r.headers["Location"] == "/admin/stations/WS001"
    rec = stored(store, "stations", "WS001")
    assert (rec["name"], rec["version"]) == (name, 2)
    assert client.get("/api/stations/WS001").status_code == 200
    html = client.get("/admin/stations?view=deleted").get_data(as_text=True)
    assert "/admin/stations/WS001/restore" not in html
    # Restoring what is not deleted is a notice, not an error page.
    r = client.post("/admin/stations/WS001/restore", follow_redirects=True)
    assert "未恢复" in r.get_data(as_text=True)


def test_a_town_editor_restores_its_own_towns_only(app, store):
    editor = as_user(app, "editor1")
    other = other_town_station(store)
    for rid in ("WS001", other):
        editor.post(f"/admin/stations/{rid}/delete", data={"version": "1"})
    client = as_user(app, "gulou")
    html = client.get("/admin/stations?view=deleted").get_data(as_text=True)
    assert "/admin/stations/WS001/restore" in html
    assert f"/admin/stations/{other}/restore" not in html
    assert client.post(f"/admin/stations/{other}/restore").status_code == 403
    assert client.post("/admin/stations/WS001/restore").status_code == 302


def test_every_change_is_in_the_audit_log_by_its_user_and_page(app, store):
    client = as_user(app, "gulou")
    r = client.post("/admin/stations/new", data=new_station())
    rid = r.headers["Location"].rsplit("/", 1)[1]
    form = record_form(client, f"/admin/stations/{rid}")
    client.post(f"/admin/stations/{rid}", data={**form, "phone": ["010-12345678"]})
    client.post(f"/admin/stations/{rid}/delete", data={"version": "2"})
    client.post(f"/admin/stations/{rid}/restore")
    entries, total = _journal(app).entries(LogFilter(layer="stations", record_id=rid))
    assert total == 4
    assert [e.action for e in reversed(entries)] == ["create", "update", "delete", "restore"]
    assert {(e.user, e.via) for e in entries} == {("gulou", "page")}
    assert entries[2].fields == ["phone"]
    # The form shows the record's recent changes.
    html = client.get(f"/admin/stations/{rid}").get_data(as_text=True)
    history = html.split('id="history-title"')[1]
    assert history.count("<bdi>gulou</bdi>（后台页面）") == 4
    assert "修改：联系电话" in history


# -- hostile data ------------------------------------------------------------------------------


def _forbidden_forms(value: str) -> set[str]:
    """How ``value`` would appear in a page that skipped escape.html (as test_security)."""
    if escape.html(value) == value:
        return set()
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return {f for f in forms if len(f) >= 4}


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: list[str] = []
        self.scripts: list[dict] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a)
        if tag == "input" and "value" in a:
            self.values.append(a["value"])
        self.handlers += [k for k in a if k.startswith("on")]


def test_hostile_names_stay_text_in_the_list_and_the_form(tmp_path):
    names = [*HOSTILE_NAMES, "驿" * 10_000]
    points = [(116.83 + i * 0.0004, 40.37) for i in range(len(names))]
    frame = stations_frame(points, names=names)
    frame["address"] = list(reversed(names))
    app = staff(make_app(tmp_path, stations=frame, WTF_CSRF_ENABLED=False))
    client = as_user(app, "editor1")
    forbidden = {f for n in names for f in _forbidden_forms(n)}
    pages = ["/admin/stations", *(f"/admin/stations/T{i:02d}" for i in range(len(names)))]
    pages += [f"/admin/stations/T{i:02d}/delete" for i in range(3)]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.get_data(as_text=True)
        nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", r.headers["Content-Security-Policy"])
        scan = _Texts()
        scan.feed(html)
        assert len(re.findall(r"<script", html, re.IGNORECASE)) == len(scan.scripts), path
        assert all(s.get("nonce") == nonce.group(1) for s in scan.scripts), path
        assert scan.handlers == [], path
        leaked = sorted(f for f in forbidden if f in html)
        assert leaked == [], (path, leaked)
        # Shown cut (maps.TEXT_DISPLAY_MAX); whole only in the form's inputs.
        assert "驿" * maps.TEXT_DISPLAY_MAX not in html.replace("驿" * 10_000 + '"', ""), path
    # Deleted, they are listed as text too.
    for i in range(len(names)):
        client.post(f"/admin/stations/T{i:02d}/delete", data={"version": "1"})
    html = client.get("/admin/stations?view=deleted").get_data(as_text=True)
    # (The sample stations the test's layer replaced are listed too.)
    assert all(f"/admin/stations/T{i:02d}/restore" in html for i in range(len(names)))
    assert sorted(f for f in forbidden if f in html) == []
    assert "驿" * maps.TEXT_DISPLAY_MAX not in html
    for i in range(len(names)):
        client.post(f"/admin/stations/T{i:02d}/restore")
    # The form holds each name whole, as typed (a browser decodes the references).
    for i, name in enumerate(names[:-1]):
        html = client.get(f"/admin/stations/T{i:02d}").get_data(as_text=True)
        assert form_fields(html)["name"] == [name], name
    # And saving the form unchanged changes nothing.
    store = app.extensions[STORE_KEY]
    form = record_form(client, "/admin/stations/T03")
    r = client.post("/admin/stations/T03", data=form)
    assert r.status_code == 302
    assert stored(store, "stations", "T03")["name"] == names[3]


def test_the_form_has_every_field_of_the_import_under_its_chinese_header(app):
    from geoservice.store.tables import ZH_HEADERS

    client = as_user(app, "editor1")
    for layer, rid in (("stations", "WS001"), ("sites", "RS01")):
        gdf = app.extensions[STORE_KEY].read(layer)
        rid = rid if gdf["id"].eq(rid).any() else str(gdf["id"].iloc[0])
        html = client.get(f"/admin/{layer}/{rid}").get_data(as_text=True)
        form = form_fields(html)
        for column in records.FIELDS[layer]:
            if column == "id":
                continue
            assert column in form or column == "amenities", (layer, column)
            if column not in ("lon", "lat"):
                assert ZH_HEADERS[column] in field_block(html, column), (layer, column)
        new = form_fields(client.get(f"/admin/{layer}/new").get_data(as_text=True))
        assert {"id", "crs", "paste"} <= set(new)


# -- in a phone's browser ----------------------------------------------------------------------


@needs_chromium
@pytest.mark.slow
def test_add_a_station_on_a_phone_by_clicking_and_dragging(tmp_path, browser):
    app = staff(make_app(tmp_path, RATELIMIT_ENABLED=False))
    store = app.extensions[STORE_KEY]
    with serving(app) as url:
        context, page, watch = watched_page(
            browser,
            url,
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            device_scale_factor=2,
        )
        page.goto(url + "/admin/stations/new")
        page.fill("#name", "editor1")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/stations/new")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.select_option("#town_code", GULOU)  # the map shows the town's seat
        page.fill("#opening_hours", "周一至周五 8:00-17:30")
        page.wait_for_selector("#opening_hours-preview code")
        assert page.inner_text("#opening_hours-preview code") == "Mo-Fr 08:00-17:30"
        page.check("input[name=amenities][value=hot_water]")
        # Click the map: the marker appears and the inputs hold the point.
        page.locator("#record-map").scroll_into_view_if_needed()
        page.wait_for_selector("path.road", state="attached")
        box = page.locator("#record-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.wait_for_selector(".leaflet-marker-icon")
        clicked = (page.input_value("#lon"), page.input_value("#lat"))
        assert "已放在" in page.inner_text("#position-status")
        # Saved without a name: the problem at its field, nothing typed lost.
        page.click("#record-save")
        page.wait_for_selector("#error-summary")
        assert "名称为空" in page.inner_text("#f-name .field-error")
        assert (page.input_value("#lon"), page.input_value("#lat")) == clicked
        assert page.input_value("#opening_hours") == "周一至周五 8:00-17:30"
        assert page.is_checked("input[name=amenities][value=hot_water]")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.fill("#name", "手机新增驿站")
        # Drag the marker 60 px right and 40 px down.
        page.locator("#record-map").scroll_into_view_if_needed()
        page.wait_for_selector(".leaflet-marker-icon")
        icon = page.locator(".leaflet-marker-icon").bounding_box()
        x, y = icon["x"] + icon["width"] / 2, icon["y"] + icon["height"] - 4
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x + 6 * step, y + 4 * step)
        page.mouse.up()
        page.wait_for_function("v => document.getElementById('lon').value !== v", arg=clicked[0])
        dragged = (float(page.input_value("#lon")), float(page.input_value("#lat")))
        assert dragged[0] > float(clicked[0])  # right
        assert dragged[1] < float(clicked[1])  # down
        assert "已拖动到" in page.inner_text("#position-status")
        page.click("#record-save")
        page.wait_for_url(re.compile(r".*/admin/stations/WS\d+$"))
        assert "已新增驿站" in page.inner_text(".notice.ok")
        rid = page.url.rsplit("/", 1)[1]
        rec = stored(store, "stations", rid)
        assert np.allclose([rec["lon"], rec["lat"]], dragged, atol=1e-7)
        assert rec["opening_hours"] == "Mo-Fr 08:00-17:30"
        page.goto(url + "/admin/stations?q=手机新增")
        assert page.locator(f"a[href='/admin/stations/{rid}']").count() >= 1
        assert "手机新增驿站" in page.inner_text(".records-table")
        watch.check(page)
        context.close()
