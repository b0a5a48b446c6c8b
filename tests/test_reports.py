"""Workers' reports: filing (``POST /api/stations/<id>/reports``), ``open_reports`` in the
answers, the report box on the pages, and the queue in ``/admin/reports`` where staff
confirm (correcting the station through the audit log) or dismiss them."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import (
    ARTIFACTS,
    GRID_STATIONS,
    HOSTILE_NAMES,
    assert_bilingual_error,
    make_app,
    needs_chromium,
    serving,
    stations_frame,
    watched_page,
)

from geoservice import escape
from geoservice.admin import PROBLEMS, Reports, open_database
from geoservice.admin.audit import LogFilter
from geoservice.admin.reports import NOTE_MAX, PER_CLIENT, check_note
from geoservice.errors import ParameterError
from geoservice.web import STORE_KEY
from geoservice.web.auth import STAFF_KEY

PASSWORD = "correct horse battery"
#: WS001 and WS002 are in 鼓楼街道 (110118001), WS025 in another town (110118002).
HOME, OTHER_TOWN = "110118001", "110118002"


def _url(station_id: str = "WS001") -> str:
    return f"/api/stations/{station_id}/reports"


def _file(client, station_id="WS001", problem="no_hot_water", note="", addr="198.51.100.1"):
    return client.post(
        _url(station_id),
        json={"problem": problem, "note": note},
        environ_base={"REMOTE_ADDR": addr},
    )


@pytest.fixture
def staff(app):
    return app.extensions[STAFF_KEY]


@pytest.fixture
def page_app(tmp_path):
    """An app whose forms need no CSRF token (CSRF has its own test below)."""
    return make_app(tmp_path, WTF_CSRF_ENABLED=False)


def _login(app, name="editor1", role="editor", towns=()):
    app.extensions[STAFF_KEY].accounts.create(name, role, PASSWORD, towns)
    client = app.test_client()
    r = client.post("/login", data={"name": name, "password": PASSWORD})
    assert r.status_code == 302, r.data[:300]
    return client


# -- filing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_a_report_is_filed_without_changing_the_store(client, store, staff, problem):
    revision = store.revision()
    r = _file(client, problem=problem, note="  门口贴了通知  ")
    assert r.status_code == 201
    body = r.get_json()
    assert body == {
        "id": body["id"],
        "station_id": "WS001",
        "problem": problem,
        "problem_label": PROBLEMS[problem],
        "status": "open",
        "open_reports": 1,
        "message": body["message"],
    }
    assert "谢谢" in body["message"]
    report = staff.reports.get(body["id"])
    assert (report.problem, report.note, report.status) == (problem, "门口贴了通知", "open")
    # A report lives in the staff database: the store, its revision and caches stay.
    assert store.revision() == revision


def test_the_chinese_label_names_a_problem_too(client):
    r = client.post(_url(), json={"problem": "没有热水"})
    assert r.status_code == 201
    assert r.get_json()["problem"] == "no_hot_water"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"problem": "broken"}, "problem"),
        ({"problem": ""}, "problem"),
        ({}, "problem"),
        ({"problem": 3}, "problem"),
        ({"problem": "other", "note": "x" * (NOTE_MAX + 1)}, "note"),
        ({"problem": "other", "note": "第一行\n第二行"}, "note"),
        ({"problem": "other", "note": "bell\x07"}, "note"),
        ({"problem": "other", "note": "next\u0085line"}, "note"),
        ({"problem": "other", "note": ["a"]}, "note"),
        ({"problem": "other", "station": "WS002"}, "station"),
    ],
)
def test_bad_reports_are_refused_in_both_languages(client, staff, body, parameter):
    r = client.post(_url(), json=body)
    assert_bilingual_error(r, 400, parameter)
    assert staff.reports.list("open")[1] == 0


def test_a_report_body_must_be_small_json(client):
    r = client.post(_url(), data="problem=other", content_type="application/x-www-form-urlencoded")
    assert_bilingual_error(r, 415, "body")
    r = client.post(
        _url(),
        data='{"problem": "other", "note": "' + "x" * 9000 + '"}',
        content_type="application/json",
    )
    assert r.status_code == 413
    assert r.get_json()["status"] == 413


def test_a_note_of_the_limit_is_kept_whole(client, staff):
    note = "热" * NOTE_MAX
    r = client.post(_url(), json={"problem": "other", "note": note})
    assert r.status_code == 201
    assert staff.reports.get(r.get_json()["id"]).note == note


def test_unknown_station_is_404_and_control_characters_400(client):
    assert_bilingual_error(_file(client, "NO-SUCH"), 404, "station_id")
    assert_bilingual_error(_file(client, "WS001\x00"), 400, "station_id")


def test_one_client_cannot_flood_a_station(client, staff):
    for _ in range(PER_CLIENT):
        assert _file(client, addr="198.51.100.7").status_code == 201
    body = assert_bilingual_error(_file(client, addr="198.51.100.7"), 409, None)
    assert str(PER_CLIENT) in body["message_zh"]
    # Another station, and another phone, are not affected.
    assert _file(client, "WS002", addr="198.51.100.7").status_code == 201
    assert _file(client, addr="198.51.100.8").status_code == 201
    assert staff.reports.open_counts()["WS001"] == PER_CLIENT + 1


def test_reports_are_rate_limited_per_client(tmp_path):
    app = make_app(tmp_path, RATELIMIT_REPORTS="2 per minute")
    client = app.test_client()
    assert _file(client, "WS001").status_code == 201
    assert _file(client, "WS002").status_code == 201
    r = _file(client, "WS003")
    assert_bilingual_error(r, 429, None)
    assert "Retry-After" in r.headers
    assert _file(client, "WS003", addr="198.51.100.99").status_code == 201


def test_the_client_is_kept_only_as_a_salted_hash(app, client, staff):
    address = "203.0.113.77"
    assert _file(client, addr=address).status_code == 201
    with sqlite3.connect(staff.db.path) as con:
        (kept,) = con.execute("SELECT client FROM reports").fetchone()
    assert re.fullmatch(r"[0-9a-f]{64}", kept)
    assert kept != __import__("hashlib").sha256(address.encode()).hexdigest()  # salted
    for path in Path(staff.db.path).parent.glob("admin.sqlite*"):
        assert address.encode() not in path.read_bytes(), path


def test_check_note_is_the_one_rule():
    assert check_note(None) == ""
    assert check_note("  ok  ") == "ok"
    assert check_note("\u0085 ok \u3000") == "ok"  # whitespace around is stripped
    with pytest.raises(ParameterError):
        check_note("a\u0085b")  # C1 (next line) inside
    assert check_note("\u202eevil") == "\u202eevil"  # bidi: kept, isolated where shown


# -- open_reports ------------------------------------------------------------------------------


def test_answers_carry_open_reports(grid_app):
    client = grid_app.test_client()
    for station_id in ("T00", "T00", "T01"):
        r = client.post(_url(station_id), json={"problem": "closed"})
        assert r.status_code == 201
    features = client.get("/api/stations").get_json()["features"]
    counts = {f["id"]: f["properties"]["open_reports"] for f in features}
    assert counts == {"T00": 2, "T01": 1, "T02": 0, "T03": 0, "T04": 0}
    one = client.get("/api/stations/T00").get_json()
    assert one["properties"]["open_reports"] == 2
    lon, lat = GRID_STATIONS[0]
    answer = client.get(f"/api/nearest?lon={lon}&lat={lat}&mode=walk&k=3").get_json()
    results = {r["id"]: r["open_reports"] for r in answer["results"]}
    assert results
    assert all(isinstance(n, int) for n in results.values())
    assert results.get("T00") == 2
    assert all(n == counts[sid] for sid, n in results.items())


def test_open_counts_are_cheap_and_follow_every_writer(tmp_path, store_url):
    app = make_app(tmp_path, stations=stations_frame(GRID_STATIONS * 60))
    store = app.extensions[STORE_KEY]
    # The app's reports (SQLite), or reports in PostgreSQL beside the app's store.
    reports = app.extensions[STAFF_KEY].reports
    if store_url:
        reports = Reports(open_database(store_url))
    ids = list(store.stations()["id"])
    for i in range(300):
        reports.file(ids[i], "other", "", f"10.0.0.{i}", store=store)
    assert len(reports.open_counts()) == 300
    calls = 2000
    start = time.perf_counter()
    for _ in range(calls):
        reports.open_counts()
    each = (time.perf_counter() - start) / calls
    if store_url:
        # PostgreSQL: one round trip (the snapshot), a fraction of the query it saves.
        assert each < _query_seconds(reports) / 2, f"{each * 1e6:.0f} µs per call"
    else:
        assert each < 0.2e-3, f"{each * 1e6:.0f} µs per call"
    # A write by another connection (another worker process) is seen at once.
    other = Reports(reports.db)
    other.file(ids[0], "closed", "", "10.9.9.9", store=store)
    assert reports.open_counts()[ids[0]] == 2


def _query_seconds(reports, calls: int = 200) -> float:
    """The time of the open counts' query itself, on the same connection."""
    con = reports.db.reader()
    start = time.perf_counter()
    for _ in range(calls):
        con.execute(
            "SELECT station_id, count(*) FROM reports WHERE status = 'open' GROUP BY station_id"
        ).fetchall()
    return (time.perf_counter() - start) / calls


def test_reports_are_filed_and_handled_in_either_backend(tmp_path, store_url):
    from geoservice.admin import Accounts
    from geoservice.store import GpkgStore
    from geoservice.web import DEFAULT_GPKG

    db = open_database(store_url or tmp_path / "admin.sqlite")
    reports, store = Reports(db), GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    boss = Accounts(db).create("boss", "editor", PASSWORD)
    filed = [reports.file("WS001", "closed", "10 点还没开", "198.51.100.1", store=store)]
    filed += [reports.file("WS001", "other", "", "198.51.100.1", store=store) for _ in range(2)]
    with pytest.raises(ParameterError) as info:
        reports.file("WS001", "other", "", "198.51.100.1", store=store)
    assert info.value.status == 409
    filed.append(reports.file("WS002", "moved", "", "198.51.100.2", store=store))
    assert dict(reports.open_counts()) == {"WS001": 3, "WS002": 1}
    assert filed[0].note == "10 点还没开"
    confirmed = reports.confirm(filed[0].id, boss, None, "已核实", store=store)
    assert (confirmed.status, confirmed.handled_by, confirmed.resolution) == (
        "confirmed",
        "boss",
        "已核实",
    )
    reports.dismiss(filed[3].id, boss, "重复", store=store)
    with pytest.raises(ParameterError) as info:
        reports.dismiss(filed[0].id, boss, store=store)
    assert info.value.status == 409
    open_, n_open = reports.list("open")
    handled, n_handled = reports.list("handled")
    assert (n_open, n_handled) == (2, 2)
    assert [r.id for r in open_] == [filed[2].id, filed[1].id]  # newest first
    assert [r.id for r in handled] == [filed[3].id, filed[0].id]
    assert dict(reports.open_counts()) == {"WS001": 2}
    with pytest.raises(ParameterError) as info:
        reports.get(10_000)
    assert info.value.status == 404


# -- the pages ---------------------------------------------------------------------------------


def test_popups_and_cards_get_the_report_box(client):
    assert _file(client, "WS001").status_code == 201
    html = client.get("/").get_data(as_text=True)
    assert (
        '<div class="report-box" data-station-id="WS001"><p class="report-count">有 1 条待核实反馈'
        in html
    )
    assert html.count('class="report-open"') == 104
    assert re.search(r'<script [^>]*src="/static/reports\.js" defer>', html)
    config = re.search(r'id="report-config">(.*?)</script>', html).group(1)
    assert '"url": "/api/stations/__station__/reports"' in config
    assert "没有热水" in config
    # Another report: the cached home page is drawn again with the new count.
    assert _file(client, "WS001", addr="198.51.100.2").status_code == 201
    assert "有 2 条待核实反馈" in client.get("/").get_data(as_text=True)
    nearest = client.get("/nearest").get_data(as_text=True)
    assert 'id="report-config"' in nearest
    assert nearest.index("/static/reports.js") < nearest.index("/static/nearest.js")


def test_popup_report_box_escapes_the_id(client, store):
    evil = '"><img src=x onerror=alert(1)>`${x}'
    store.update("stations", lambda g: (g.assign(id=g["id"].where(g["id"] != "WS001", evil)), None))
    html = client.get("/").get_data(as_text=True)
    assert f'data-station-id="{escape.html(evil)}"' in html
    assert "<img src=x" not in html


# -- the queue in /admin -----------------------------------------------------------------------


def test_the_queue_needs_a_login(client):
    r = client.get("/admin/reports")
    assert r.status_code == 302
    assert "/login" in r.headers["Location"]
    assert client.post("/admin/reports/1/dismiss").status_code in (302, 400)


def test_confirming_no_hot_water_removes_it_through_the_audit_log(page_app):
    staff = page_app.extensions[STAFF_KEY]
    store = page_app.extensions[STORE_KEY]
    reporter = page_app.test_client()
    rid = _file(reporter, note="饮水机坏了").get_json()["id"]
    client = _login(page_app)
    page = client.get("/admin/reports").get_data(as_text=True)
    assert "饮水机坏了" in page
    assert "没有热水" in page
    assert "北京时间" in page
    r = client.post(f"/admin/reports/{rid}/confirm", data={"note": "已通知站点"})
    assert r.status_code == 302
    stored = store.stations().set_index("id").loc["WS001", "amenities"]
    assert "hot_water" not in stored.split(";")
    assert "microwave" in stored.split(";")
    entries, _ = staff.journal.entries(LogFilter(layer="stations", record_id="WS001"))
    assert [(e.user, e.via, e.fields) for e in entries] == [("editor1", "page", ["amenities"])]
    report = staff.reports.get(rid)
    assert (report.status, report.handled_by, report.change_id, report.resolution) == (
        "confirmed",
        "editor1",
        entries[0].id,
        "已通知站点",
    )
    assert reporter.get("/api/stations/WS001").get_json()["properties"]["open_reports"] == 0
    done = client.get("/admin/reports?status=handled").get_data(as_text=True)
    assert "已确认" in done
    assert f"修改记录 #{entries[0].id}" in done
    # Confirming twice is refused, naming who did it.
    r = client.post(f"/admin/reports/{rid}/confirm")
    assert r.status_code == 409
    assert "editor1" in r.get_data(as_text=True)


def test_confirming_closed_and_moved_takes_what_staff_enter(page_app):
    store = page_app.extensions[STORE_KEY]
    reporter = page_app.test_client()
    closed = _file(reporter, problem="closed").get_json()["id"]
    moved = _file(reporter, problem="moved", addr="198.51.100.2").get_json()["id"]
    client = _login(page_app)
    revision = store.revision()
    # The import's rules and words; nothing changes.
    r = client.post(f"/admin/reports/{closed}/confirm", data={"opening_hours": "看心情"})
    assert r.status_code == 422
    assert "开放时间无法识别" in r.get_data(as_text=True)
    assert 'value="看心情"' in r.get_data(as_text=True)  # what was entered stays
    r = client.post(f"/admin/reports/{moved}/confirm", data={"coords": "116.85, 40.38"})
    assert r.status_code == 422
    assert "请选择坐标来自哪里" in r.get_data(as_text=True)
    assert store.revision() == revision
    r = client.post(
        f"/admin/reports/{closed}/confirm", data={"opening_hours": "周一至周五 8:00-17:30"}
    )
    assert r.status_code == 302
    row = store.stations().set_index("id").loc["WS001"]
    assert row["opening_hours"] == "Mo-Fr 08:00-17:30"
    # Coordinates pasted from Amap (GCJ-02, with a Chinese comma) are converted to WGS84.
    r = client.post(
        f"/admin/reports/{moved}/confirm", data={"coords": "116.8500，40.3800", "crs": "gcj02"}
    )
    assert r.status_code == 302
    row = store.stations().set_index("id").loc["WS001"]
    assert 116.83 < row["lon"] < 116.85
    assert abs(row["lon"] - 116.85) > 1e-3  # not taken as WGS84


def test_other_may_correct_one_field_or_none(page_app):
    store = page_app.extensions[STORE_KEY]
    staff = page_app.extensions[STAFF_KEY]
    reporter = page_app.test_client()
    first = _file(reporter, problem="other").get_json()["id"]
    second = _file(reporter, problem="other", addr="198.51.100.2").get_json()["id"]
    client = _login(page_app)
    r = client.post(f"/admin/reports/{first}/confirm", data={"field": "id", "value": "X"})
    assert r.status_code == 422
    r = client.post(f"/admin/reports/{first}/confirm", data={"field": "phone", "value": "010-1"})
    assert r.status_code == 302
    assert store.stations().set_index("id").loc["WS001", "phone"] == "010-1"
    revision = store.revision()
    r = client.post(f"/admin/reports/{second}/confirm", data={"note": "已电话核实"})
    assert r.status_code == 302
    assert store.revision() == revision
    assert staff.reports.get(second).change_id is None


def test_dismissing_changes_nothing(page_app):
    store = page_app.extensions[STORE_KEY]
    staff = page_app.extensions[STAFF_KEY]
    rid = _file(page_app.test_client(), problem="closed").get_json()["id"]
    client = _login(page_app)
    revision = store.revision()
    r = client.post(f"/admin/reports/{rid}/dismiss", data={"reason": "当天为法定节假日"})
    assert r.status_code == 302
    assert store.revision() == revision
    assert staff.journal.entries()[1] == 0
    report = staff.reports.get(rid)
    assert (report.status, report.resolution) == ("dismissed", "当天为法定节假日")
    page = client.get("/admin/reports?status=handled").get_data(as_text=True)
    assert "已驳回" in page
    assert "当天为法定节假日" in page
    assert client.post(f"/admin/reports/{rid}/dismiss").status_code == 409
    assert client.post("/admin/reports/999/dismiss").status_code == 404
    r = client.post(f"/admin/reports/{rid}/dismiss", data={"reason": "a\nb"})
    assert r.status_code in (400, 409)


def test_a_report_on_a_deleted_station_can_only_be_dismissed(page_app):
    store = page_app.extensions[STORE_KEY]
    rid = _file(page_app.test_client(), problem="closed").get_json()["id"]
    store.update("stations", lambda g: (g.loc[g["id"] != "WS001"], None))
    client = _login(page_app)
    page = client.get("/admin/reports").get_data(as_text=True)
    assert "已不存在" in page
    assert f"/admin/reports/{rid}/confirm" not in page
    r = client.post(f"/admin/reports/{rid}/confirm", data={"opening_hours": "24/7"})
    assert r.status_code == 404
    assert "请驳回" in r.get_data(as_text=True)
    assert client.post(f"/admin/reports/{rid}/dismiss").status_code == 302


def test_a_town_editor_sees_all_but_acts_on_its_towns_only(page_app):
    store = page_app.extensions[STORE_KEY]
    staff = page_app.extensions[STAFF_KEY]
    reporter = page_app.test_client()
    mine = _file(reporter, "WS001").get_json()["id"]
    theirs = _file(reporter, "WS025").get_json()["id"]
    client = _login(page_app, "town1", "town_editor", (HOME,))
    page = client.get("/admin/reports").get_data(as_text=True)
    assert f'id="report-{mine}"' in page
    assert f'id="report-{theirs}"' in page
    assert f"/admin/reports/{mine}/confirm" in page
    assert f"/admin/reports/{theirs}/confirm" not in page
    assert f"/admin/reports/{theirs}/dismiss" not in page
    revision = store.revision()
    assert client.post(f"/admin/reports/{theirs}/confirm").status_code == 403
    assert client.post(f"/admin/reports/{theirs}/dismiss").status_code == 403
    assert store.revision() == revision
    assert staff.reports.get(theirs).is_open
    assert client.post(f"/admin/reports/{mine}/confirm").status_code == 302
    assert not staff.reports.get(mine).is_open


def test_hostile_notes_render_as_text(page_app):
    reporter = page_app.test_client()
    notes = []
    for i, name in enumerate(HOSTILE_NAMES):
        r = _file(reporter, f"WS{i + 1:03d}", "other", name, addr=f"198.51.100.{i + 10}")
        if r.status_code == 201:
            notes.append(name)
        else:  # line breaks and separators: refused, as the form sends one line
            assert_bilingual_error(r, 400, "note")
    assert len(notes) >= 9
    html = _login(page_app).get("/admin/reports").get_data(as_text=True)
    for note in notes:
        # Jinja's escaping: & < > " ' as entities, the rest as it is, isolated.
        assert f"<bdi>{_jinja(note)}</bdi>" in html, note
    assert "<img src=x" not in html
    assert "<script>alert(1)" not in html
    assert "49" not in re.findall(r"<bdi>([^<]*)</bdi>", html)  # {{7*7}} stays text


def _jinja(text: str) -> str:
    from markupsafe import escape as jinja_escape

    return str(jinja_escape(text))


def test_forms_need_the_csrf_token(app):
    rid = _file(app.test_client()).get_json()["id"]
    app.extensions[STAFF_KEY].accounts.create("editor1", "editor", PASSWORD)
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    r = client.post("/login", data={"name": "editor1", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    assert client.post(f"/admin/reports/{rid}/dismiss").status_code == 400
    page = client.get("/admin/reports").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(f"/admin/reports/{rid}/dismiss", data={"csrf_token": token})
    assert r.status_code == 302


def test_openapi_describes_the_report(client):
    doc = client.get("/api/openapi.json").get_json()
    op = doc["paths"]["/api/stations/{station_id}/reports"]["post"]
    assert {"201", "400", "404", "409", "413", "415", "429"} <= set(op["responses"])
    schema = doc["components"]["schemas"]["ReportRequest"]
    assert schema["properties"]["problem"]["enum"] == list(PROBLEMS)
    assert schema["properties"]["note"]["maxLength"] == NOTE_MAX
    example = op["requestBody"]["content"]["application/json"]["example"]
    assert client.post(_url(), json=example).status_code == 201


# -- in a browser --------------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
HERE = {"longitude": 116.8312, "latitude": 40.3690}


@pytest.mark.slow
@needs_chromium
def test_report_on_nearest_in_two_taps_then_confirm_in_admin(grid_app, browser):
    store = grid_app.extensions[STORE_KEY]
    staff = grid_app.extensions[STAFF_KEY]
    staff.accounts.create("editor1", "editor", PASSWORD)
    with serving(grid_app) as origin:
        context, page, watch = watched_page(
            browser,
            origin,
            "/api/stations/",
            viewport=PHONE,
            has_touch=True,
            is_mobile=True,
            locale="zh-CN",
            geolocation=HERE,
        )
        context.grant_permissions(["geolocation"], origin=origin)
        page.goto(origin + "/nearest", wait_until="networkidle")
        page.wait_for_function("() => document.body.classList.contains('nearest-ready')")
        page.get_by_role("button", name="定位我").tap()
        page.wait_for_selector(".result-card", timeout=10000)
        card = page.locator(".result-card").first
        station_id = card.get_attribute("data-station-id")
        assert card.locator(".report-count").count() == 0
        # First tap: the four problems; the card does not take the tap as its own.
        card.get_by_role("button", name="反馈问题").tap()
        problems = card.locator(".report-problem")
        assert problems.all_inner_texts() == list(PROBLEMS.values())
        card.locator(".report-note").fill("饮水机坏了")
        # Second tap: sent.
        with page.expect_response(lambda r: r.url.endswith("/reports")) as sent:
            problems.filter(has_text="没有热水").tap()
        assert sent.value.status == 201
        card.locator(".report-thanks").wait_for()
        assert "谢谢" in card.locator(".report-thanks").inner_text()
        assert card.locator(".report-count").inner_text() == "有 1 条待核实反馈"
        assert card.locator(".report-panel").is_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report_nearest_phone.png"))
        # The same box in the result's popup on the map.
        page.evaluate(
            "() => { window.geoserviceMap.eachLayer((l) => { if (l.getPopup && l.getPopup()"
            " && l.options.icon && l.options.icon.options.className.includes('rank-marker-1'))"
            " l.openPopup(); }); }"
        )
        popup = page.locator(".leaflet-popup-content .report-box")
        popup.wait_for()
        popup.get_by_role("button", name="反馈问题").tap()
        assert popup.locator(".report-problem").count() == 4
        assert watch.api == [origin + f"/api/stations/{station_id}/reports"]
        watch.check(page)
        # The rate limit and a network failure are said in Chinese; the problems stay.
        page.route(
            "**/reports",
            lambda route: route.fulfill(
                status=429,
                headers={"Retry-After": "120"},
                content_type="application/json",
                body='{"error": "too many", "status": 429}',
            ),
        )
        popup.locator(".report-problem", has_text="其他").tap()
        error = popup.locator(".report-result.is-error")
        error.wait_for()
        assert error.inner_text() == "提交太频繁了，请约 2 分钟后再试。"
        page.unroute("**/reports")
        page.route("**/reports", lambda route: route.abort())
        popup.locator(".report-problem", has_text="其他").tap()
        page.wait_for_function(
            "() => document.querySelector('.leaflet-popup-content .report-result')"
            ".textContent.includes('网络错误')"
        )
        assert popup.locator(".report-problem:disabled").count() == 0
        page.unroute("**/reports")
        # Chromium logs the failed requests themselves as console errors: those only.
        assert len(watch.errors) == 2
        assert "429" in watch.errors[0]
        assert "ERR_FAILED" in watch.errors[1]
        watch.errors.clear()
        report = staff.reports.list("open")[0][0]
        assert staff.reports.list("open")[1] == 1
        assert (report.station_id, report.problem, report.note) == (
            station_id,
            "no_hot_water",
            "饮水机坏了",
        )

        # Staff log in and confirm it.
        page.goto(origin + "/login?next=/admin/reports")
        page.fill("#name", "editor1")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="登录 Log in").tap()
        page.wait_for_url("**/admin/reports")
        item = page.locator(f"#report-{report.id}")
        assert "饮水机坏了" in item.inner_text()
        assert "没有热水" in item.inner_text()
        page.screenshot(path=str(ARTIFACTS / "report_admin_phone.png"))
        item.get_by_role("button", name="确认并更正").tap()
        page.wait_for_url("**/admin/reports")
        assert f"已确认反馈 #{report.id}" in page.locator(".notice").inner_text()
        amenities = store.stations().set_index("id").loc[station_id, "amenities"]
        assert "hot_water" not in amenities.split(";")
        assert staff.reports.get(report.id).status == "confirmed"
        assert page.evaluate("window.__csp") == []
        watch.check(page)
        context.close()


#: Opens the popup of T01 (on 北街) on the home map, taking it out of its cluster.
OPEN_T01 = """() => new Promise((done) => {
    const cluster = Object.values(window).find((v) => v instanceof L.MarkerClusterGroup);
    const marker = cluster.getLayers().find((m) => Math.abs(m.getLatLng().lng - 116.8336) < 1e-6);
    cluster.zoomToShowLayer(marker, () => { marker.openPopup(); done(); });
})"""


@pytest.mark.slow
@needs_chromium
def test_report_from_a_station_popup_on_the_home_map(grid_app, browser):
    staff = grid_app.extensions[STAFF_KEY]
    with serving(grid_app) as origin:
        context, page, watch = watched_page(
            browser,
            origin,
            "/api/stations/",
            viewport={"width": 1280, "height": 860},
            locale="zh-CN",
        )
        page.goto(origin + "/", wait_until="networkidle")
        page.wait_for_selector(".leaflet-marker-icon")
        # Open T01's popup as a click on its marker would (out of its cluster first).
        page.evaluate(OPEN_T01)
        box = page.locator(".leaflet-popup-content .report-box")
        box.wait_for()
        assert box.get_attribute("data-station-id") == "T01"
        box.get_by_role("button", name="反馈问题").click()
        with page.expect_response(lambda r: r.url.endswith("/api/stations/T01/reports")) as sent:
            box.get_by_role("button", name="该开时没开").click()
        assert sent.value.status == 201
        box.locator(".report-thanks").wait_for()
        assert box.locator(".report-count").inner_text() == "有 1 条待核实反馈"
        assert staff.reports.open_counts() == {"T01": 1}
        # Drawn again with the count from the server.
        page.reload(wait_until="networkidle")
        page.wait_for_selector(".leaflet-marker-icon")
        page.evaluate(OPEN_T01)
        assert "有 1 条待核实反馈" in page.locator(".leaflet-popup-content").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report_home_popup.png"))
        assert len(watch.api) == 1
        watch.check(page)
        context.close()


def _file_all(reports, store, started, clients: int, filed) -> None:
    started.wait(30)
    for c in range(clients):
        for _ in range(PER_CLIENT):
            try:
                reports.file("WS001", "other", "", f"198.51.100.{c}", store=store)
                filed.put(1)
            except ParameterError:
                filed.put(0)


def test_two_processes_filing_at_once_keep_the_cap(tmp_path, pg_url):
    """A count then an insert, one block at a time across processes (BEGIN IMMEDIATE on
    SQLite, the schema's advisory lock on PostgreSQL)."""
    import multiprocessing

    from geoservice.store import GpkgStore
    from geoservice.web import DEFAULT_GPKG

    reports = Reports(open_database(pg_url))
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    clients = 10
    context = multiprocessing.get_context("fork")
    started, filed = context.Event(), context.Queue()
    args = (reports, store, started, clients, filed)
    workers = [context.Process(target=_file_all, args=args) for _ in range(2)]
    for w in workers:
        w.start()
    started.set()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    tries = 2 * clients * PER_CLIENT
    assert sum(filed.get(timeout=5) for _ in range(tries)) == clients * PER_CLIENT
    assert reports.open_counts()["WS001"] == clients * PER_CLIENT
