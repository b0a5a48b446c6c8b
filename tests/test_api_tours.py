"""The tours API: plans over HTTP (a job: 202, followed to the saved plan), every error case
of the issue, saved plans listed and reopened, the files downloaded and parsed back, and the
bounds (search, rate, the queue, size) that keep any request from a 500 or an endless solve.

One app (module scope) routes on the small 鼓楼 extract with the planner tests' stations
on its streets (tests/test_tour.py) and a search of a few hundred iterations.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse

import gpxpy
import openpyxl
import pytest
from conftest import STAFF_PASSWORD, assert_bilingual_error, make_app
from test_tour import GRID, check_feasible
from test_tour_export import HOSTILE, _frame

from geoservice import escape
from geoservice.errors import StoreError
from geoservice.messages import message
from geoservice.service import TOURS_BODY_MAX
from geoservice.tours import export as tour_export
from geoservice.tours import planner as tour
from geoservice.tours.request import TourRequest
from geoservice.tours.saved import TourStore
from geoservice.web import STORE_KEY, create_app
from geoservice.web.auth import STAFF_KEY
from geoservice.web.jobs import JOBS_KEY

#: Over National Day 2026: 10-01 … 10-07 off, Saturday 10-10 a make-up working day.
BODY = {
    "stops": GRID,
    "days": 3,
    "service_minutes": 100,
    "start_date": "2026-09-30",
    "time_windows": {"S1": "14:00-17:00"},
    "optional": {"S4": 1},
}
ITERATIONS = 300


def _app(tmp, **config):
    """The conftest app on the planner tests' stations, with a short search."""
    config = {"TOURS_ITERATIONS": ITERATIONS, "RATELIMIT_ENABLED": False, **config}
    return make_app(tmp, stations=_frame(), **config)


@pytest.fixture(scope="module")
def tours_app(tmp_path_factory):
    return _app(tmp_path_factory.mktemp("tours_api"))


@pytest.fixture(scope="module")
def client(tours_app):
    return tours_app.test_client()


@pytest.fixture(scope="module")
def admin(tours_app):
    """The bearer header of an admin, who sees every saved plan in the listing."""
    accounts = tours_app.extensions[STAFF_KEY].accounts
    accounts.create("root", "admin", STAFF_PASSWORD)
    return {"Authorization": f"Bearer {accounts.issue_token('root')}"}


def planned_tour(client, body, **kwargs):
    """``POST /api/tours`` by the job protocol, checked: 202 with the job and its
    ``Location`` (``/api/jobs/<id>``), the job done (jobs run inline in the test apps) with
    ``result.href`` the saved plan; returns the ``GET`` of the plan (200)."""
    posted = client.post("/api/tours", json=body, **kwargs)
    assert posted.status_code == 202, posted.get_json()
    job = posted.get_json()
    assert posted.headers["Location"] == f"/api/jobs/{job['id']}"
    assert int(posted.headers["Retry-After"]) > 0
    followed = client.get(posted.headers["Location"])
    assert followed.status_code == 200
    assert followed.get_json()["id"] == job["id"]
    job = followed.get_json()
    assert (job["kind"], job["state"], job["error"]) == ("tours", "done", None)
    assert job["result"]["href"] == f"/api/tours/{job['result']['tour_id']}"
    plan = client.get(job["result"]["href"])
    assert plan.status_code == 200, plan.get_json()
    assert plan.get_json()["id"] == job["result"]["tour_id"]
    return plan


@pytest.fixture(scope="module")
def planned(client):
    return planned_tour(client, BODY)


def _tour_error(r, status: int, parameter: str) -> dict:
    """The TourError body: the bilingual error plus ``stops`` and ``days_needed``."""
    return assert_bilingual_error(r, status, parameter, extra=("stops", "days_needed"))


# -- a plan ----------------------------------------------------------------------------


def test_plan_is_created_saved_listed_and_reopened(tours_app, client, planned, admin):
    saved = planned.get_json()
    # Unguessable: the id is what lets one read a plan (issue 14).
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{20}", saved["id"])
    location = f"/api/tours/{saved['id']}"
    assert set(saved) == {"id", "created", "request", "result"}
    result = saved["result"]
    request = tour.resolve(TourRequest.parse(BODY), tours_app.extensions[STORE_KEY])
    check_feasible(result, request)
    assert result["summary"]["stops_served"] == len(GRID)
    assert len(result["days"]) >= 2
    # The search is bounded by the configured iterations (machine-independent).
    assert result["search"]["max_iterations"] == ITERATIONS
    assert result["search"]["iterations"] <= ITERATIONS
    assert saved["request"]["optional"] == {"S4": 1}
    # Reopened as saved, and listed newest first.
    again = client.get(location)
    assert again.status_code == 200
    assert again.get_json() == saved
    # Listed to staff, not to anonymous readers (issue 14: every plan was public).
    assert client.get("/api/tours").get_json()["total"] == 0
    listing = client.get("/api/tours", headers=admin).get_json()
    assert listing["plans"][0]["id"] == saved["id"]
    assert listing["plans"][0]["owner"] is None
    assert listing["plans"][0]["stops_served"] == len(GRID)
    assert listing["plans"][0]["start_date"] == "2026-09-30"
    # A restart (a new app on the same folder) still has it.
    restarted = create_app({**tours_app.config, "TESTING": True})
    assert restarted.test_client().get(location).get_json() == saved


def test_days_are_china_working_days(planned, tours_app):
    dates = [d["date"] for d in planned.get_json()["result"]["days"]]
    # 10-01 … 10-07 are the National Day holiday (10-03/04 a weekend anyway).
    assert dates[:2] == ["2026-09-30", "2026-10-08"]
    runner = tours_app.test_cli_runner()
    body = {**BODY, "start_date": "2026-10-09", "optional": {}}
    r = planned_tour(tours_app.test_client(), body)
    # Saturday 10-10 is a make-up working day (调休上班).
    assert [d["date"] for d in r.get_json()["result"]["days"]][:2] == ["2026-10-09", "2026-10-10"]
    # The command line plans with the same calendar.
    r = runner.invoke(
        args=["tours", "plan", "--stops", ",".join(GRID), "--days", "3", "--service", "100",
              "--start-date", "2026-09-30"]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "第 2 天 2026-10-08" in r.output
    assert planned.get_json()["result"]["notices"] == []


def test_plan_says_when_holidays_of_a_year_are_unknown(tours_app):
    # 2027's arrangement is not in the shipped table: only weekends can be skipped.
    body = {**BODY, "start_date": "2026-12-31", "optional": {}}
    r = planned_tour(tours_app.test_client(), body)
    notices = r.get_json()["result"]["notices"]
    assert [n["code"] for n in notices] == ["holidays_unknown"]
    assert "2027" in notices[0]["zh"]
    assert "2027" in notices[0]["en"]
    html = (
        tours_app.test_client().get(f"/api/tours/{r.get_json()['id']}.html").get_data(as_text=True)
    )
    assert "2027 年的法定节假日" in html


def test_same_request_same_plan(client, planned, admin):
    # Asked again (same body, store, network, owner): the same job, the same saved plan.
    assert planned_tour(client, BODY).get_json() == planned.get_json()
    # Asked by someone else: a job and a plan of their own, planned to the same result (the
    # search is bounded by iterations with a fixed seed).
    again = planned_tour(client, BODY, headers=admin).get_json()
    assert again["id"] != planned.get_json()["id"]
    assert json.dumps(again["result"], sort_keys=True) == json.dumps(
        planned.get_json()["result"], sort_keys=True
    )


def test_listing_is_paginated_newest_first(client, planned, admin):
    for stop in ("S1", "S2"):  # two questions, two plans (the same one twice is one plan)
        planned_tour(client, {"stops": [stop]})
    full = client.get("/api/tours?limit=100", headers=admin).get_json()
    ids = [p["id"] for p in full["plans"]]
    assert full["total"] == len(ids) >= 3
    assert ids == sorted(ids, reverse=True)
    first = client.get("/api/tours?limit=2", headers=admin).get_json()
    assert [p["id"] for p in first["plans"]] == ids[:2]
    assert first["next_offset"] == 2
    rest = client.get(f"/api/tours?limit=2&offset={first['next_offset']}", headers=admin)
    rest = rest.get_json()
    assert [p["id"] for p in rest["plans"]] == ids[2:4]
    last = client.get(f"/api/tours?offset={len(ids)}", headers=admin).get_json()
    assert last["plans"] == []
    assert last["next_offset"] is None
    for query, parameter in (("limit=0", "limit"), ("limit=101", "limit"), ("offset=-1", "offset"),
                             ("limit=x", "limit")):  # fmt: skip
        assert_bilingual_error(client.get(f"/api/tours?{query}"), 400, parameter)


# -- the files ---------------------------------------------------------------------------


def _names(r) -> tuple[str, str]:
    """The ASCII and the RFC 5987 UTF-8 file names of a Content-Disposition."""
    disposition = r.headers["Content-Disposition"]
    plain = re.search(r'filename="([^"]+)"', disposition).group(1)
    encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
    assert plain.isascii()
    assert re.fullmatch(r"[A-Za-z0-9._-]+", plain)
    return plain, urllib.parse.unquote(encoded, errors="strict")


@pytest.mark.parametrize("fmt", ["gpx", "csv", "xlsx", "geojson", "html"])
def test_files_have_type_name_and_parse_back(client, planned, fmt):
    saved = planned.get_json()
    result = saved["result"]
    r = client.get(f"/api/tours/{saved['id']}.{fmt}")
    assert r.status_code == 200
    assert r.content_type == tour_export.MEDIA_TYPES[fmt]
    plain, utf8 = _names(r)
    assert plain == f"caravan-tour-{saved['id']}.{fmt}"
    assert utf8.startswith("大篷车")
    assert utf8.endswith(f"_{saved['id']}.{fmt}")
    assert "2026-09-30" in utf8
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("inline;" if fmt == "html" else "attachment;")
    days = result["days"]
    stops = [s for d in days for s in d["stops"]]
    if fmt == "gpx":
        gpx = gpxpy.parse(r.get_data(as_text=True))
        assert len(gpx.tracks) == len(days)
        assert len(gpx.waypoints) == len(stops) + 1
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
        assert tuple(rows[0]) == tour_export.COLUMNS
        served = [row for row in rows[1:] if row[4] == "服务"]
        assert [row[6] for row in served] == [s["id"] for s in stops]
        # A name that would be a formula stays text.
        hostile = next(row[5] for row in served if row[6] == "S2")
        assert hostile == escape.spreadsheet_cell(HOSTILE)
    elif fmt == "xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(r.data))
        assert wb.sheetnames == ["日程", "未安排", "说明"]
        head = [c.value for c in wb["日程"][1]]
        assert tuple(head) == tour_export.COLUMNS
        cells = [c.value for row in wb["日程"].iter_rows(min_row=2) for c in row]
        assert escape.spreadsheet_cell(HOSTILE) in cells
        assert all(not (isinstance(v, str) and v.startswith("=")) for v in cells)
    elif fmt == "geojson":
        doc = json.loads(r.data)
        routes = [f for f in doc["features"] if f["properties"]["role"] == "route"]
        assert [f["properties"]["colour"] for f in routes] == [
            tour_export.day_style(d["day"])["colour"] for d in days
        ]
        assert len([f for f in doc["features"] if f["properties"]["role"] == "stop"]) == len(stops)
    else:
        html = r.get_data(as_text=True)
        assert '<html lang="zh-Hans">' in html
        assert "<script" not in html.lower()
        assert not re.search(r"\son\w+\s*=", html)
        assert HOSTILE not in html
        assert escape.html(HOSTILE) in html
        assert html.count('<section class="day"') == len(days)
        # Nothing may run or load: the schedule's own policy, stricter than the pages'.
        policy = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy
    if fmt != "html":
        assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# -- errors --------------------------------------------------------------------------------


def test_named_stops_that_cannot_be_served_are_a_422_listing_them(client, tours_app):
    body = _tour_error(client.post("/api/tours", json={"stops": ["S1", "NOPE", "XX9"]}), 422,
                       "stops")  # fmt: skip
    assert [(s["id"], s["reason_code"]) for s in body["stops"]] == [
        ("NOPE", "unknown"),
        ("XX9", "unknown"),
    ]
    assert "NOPE" in body["message_zh"]
    sites = tours_app.extensions[STORE_KEY].sites()
    no_coordinate = sites.loc[sites["coord_source"] == "missing", "id"].iloc[0]
    r = client.post("/api/tours", json={"stops": ["S1", "U1", "F1", no_coordinate]})
    body = _tour_error(r, 422, "stops")
    reasons = {s["id"]: s["reason_code"] for s in body["stops"]}
    assert reasons == {"U1": "unreachable", "F1": "off_network", no_coordinate: "no_coordinate"}
    far = next(s for s in body["stops"] if s["id"] == "F1")
    assert "km" in far["reason"]
    assert far["name"] == "站F1"


def test_stops_picked_by_kind_that_cannot_be_served_are_unserved(client):
    r = planned_tour(client, {"stops": ["worker_home", "S1"]})
    unserved = {u["id"]: u["reason_code"] for u in r.get_json()["result"]["unserved"]}
    assert unserved == {"U1": "unreachable", "M1": "unreachable", "F1": "off_network"}


def test_more_mandatory_work_than_fits_is_a_422_with_days_needed(client):
    r = client.post("/api/tours", json={"stops": GRID, "days": 1, "service_minutes": 200})
    body = _tour_error(r, 422, "days")
    assert 3 <= body["days_needed"] <= 8
    assert f"约需 {body['days_needed']} 天" in body["message_zh"]
    assert body["stops"]
    assert {s["reason_code"] for s in body["stops"]} == {"no_room"}
    assert all(s["reason"].startswith("必选站点，天数内排不下") for s in body["stops"])


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"stops": ["S1"], "depot": "NOPE"}, "depot"),
        ({"stops": ["S1"], "depot": "110118001001"}, "depot"),  # a site, not a station
        ({"stops": ["S1"], "day_start": "17:00", "day_end": "09:00"}, "day_end"),
        ({"stops": ["S1"], "day_start": "09:00", "day_end": "09:00"}, "day_end"),
        ({"stops": ["S1"], "days": 0}, "days"),
        ({"stops": ["S1"], "days": 32}, "days"),
        ({"stops": ["S1"], "days": True}, "days"),
        ({"stops": [f"X{i}" for i in range(301)]}, "stops"),
        ({"stops": ["village"]}, "stops"),  # 330 villages: more than 300 stops
        ({"stops": []}, "stops"),
        ({"days": 2}, "stops"),
        ({"stops": [{"id": "S1"}]}, "stops"),
        ({"stops": ["S1"], "start_date": "2026-02-30"}, "start_date"),
        ({"stops": ["S1"], "lunch_minutes": 181}, "lunch_minutes"),
        ({"stops": ["S1"], "service_minutes": {"S2": 30}}, "service_minutes.S2"),
        ({"stops": ["S1"], "time_windows": {"S1": "11:00-10:00"}}, "time_windows.S1"),
        ({"stops": ["S1"], "optional": {"S1": 6}}, "optional.S1"),
        ({"stops": ["S1"], "stop": ["S2"]}, "stop"),  # a misspelt key is refused
        ([{"stops": ["S1"]}], "body"),
        ("S1", "body"),
    ],
)
def test_bad_requests_are_400_naming_the_field(client, body, parameter):
    r = client.post("/api/tours", json=body)
    assert_bilingual_error(r, 400, parameter)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"stops": ["S1"], "days": NaN}', "application/json", 400),
        (b"[" * 50 + b"]" * 50, "application/json", 400),
        (b'{"stops": ["S1"]}', "text/plain", 415),
        (b'{"stops": ["S1"]}', None, 415),
        (b"\xff\xfe{}", "application/json", 400),
    ],
)
def test_malformed_bodies_are_refused(client, data, content_type, status):
    r = client.post("/api/tours", data=data, content_type=content_type)
    assert_bilingual_error(r, status, "body")


def test_oversized_body_is_a_413_before_it_is_read(client):
    big = json.dumps({"stops": ["S1"], "depot": "x" * TOURS_BODY_MAX}).encode()
    r = client.post("/api/tours", data=big, content_type="application/json")
    assert r.status_code == 413
    assert r.get_json()["parameter"] == "body"


@pytest.mark.parametrize(
    "path",
    [
        "/api/tours/20990101-000000-abcdef",
        "/api/tours/20990101-000000-abcdef.gpx",
        "/api/tours/nope.xlsx",
        "/api/tours/..%2F..%2Fetc%2Fpasswd",
        "/api/tours/../../instance/geoservice.gpkg",
        "/api/tours/" + "9" * 5000,
        "/api/tours/x.pdf",
        "/api/tours/a/b.gpx",
    ],
)
def test_unknown_plan_is_a_json_404(client, path):
    r = client.get(path)
    if r.status_code != 404 or r.get_json().get("parameter") != "tour_id":
        pytest.fail(f"{path}: {r.status_code} {r.data[:200]!r}")
    body = assert_bilingual_error(r, 404, "tour_id")
    assert len(body["error"]) < 300


def test_methods_the_paths_do_not_take(client, planned):
    plan_id = planned.get_json()["id"]
    for method, path in (("delete", f"/api/tours/{plan_id}"), ("put", "/api/tours"),
                         ("post", f"/api/tours/{plan_id}.gpx")):  # fmt: skip
        r = getattr(client, method)(path)
        assert r.status_code == 405
        assert r.is_json


# -- bounds ----------------------------------------------------------------------------------


def test_plans_are_rate_limited_per_client(tmp_path):
    app = _app(tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_TOURS="2 per minute")
    client = app.test_client()
    for _ in range(2):  # the second is the first one's job again, and counts too
        assert client.post("/api/tours", json={"stops": ["S1"]}).status_code == 202
    r = client.post("/api/tours", json={"stops": ["S1"]})
    assert_bilingual_error(r, 429, None)
    assert int(r.headers["Retry-After"]) > 0
    assert client.get("/api/tours").status_code == 200  # reading is not limited


def test_one_job_too_many_in_the_queue_is_a_503_to_retry(tmp_path):
    # A real queue nobody works on (no worker runs in the tests): jobs stay queued. Its
    # files (the board, Huey's SQLite queue) go beside the store, in tmp_path.
    app = _app(tmp_path, JOBS_MODE="queue", JOBS_QUEUE_MAX=1)
    client = app.test_client()
    first = client.post("/api/tours", json={"stops": ["S1"]})
    assert first.status_code == 202, first.get_json()
    job = first.get_json()
    assert (job["state"], job["queue_position"], job["result"]) == ("queued", 0, None)
    assert first.headers["Location"] == f"/api/jobs/{job['id']}"
    assert {p.name for p in tmp_path.iterdir()} >= {"jobs.sqlite", "jobs-queue.sqlite"}
    # A second question finds the queue full.
    r = client.post("/api/tours", json={"stops": ["S2"]})
    body = assert_bilingual_error(r, 503, None)
    assert (body["message_zh"], body["message_en"]) == message("jobs.full")
    assert int(r.headers["Retry-After"]) > 0
    # A bad body is parsed before the queue is asked: a 400, not a 503.
    bad = client.post("/api/tours", json={"stops": ["S2"], "days": 0})
    assert_bilingual_error(bad, 400, "days")
    # The same question again is the job already queued.
    same = client.post("/api/tours", json={"stops": ["S1"]})
    assert same.status_code == 202
    assert same.get_json()["id"] == job["id"]
    assert same.headers["Location"] == first.headers["Location"]
    # Cancelled, it leaves the queue: the next question is taken.
    cancelled = client.delete(first.headers["Location"])
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["state"] == "cancelled"
    assert client.get(first.headers["Location"]).get_json()["state"] == "cancelled"
    r = client.post("/api/tours", json={"stops": ["S2"]})
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["id"] != job["id"]
    assert r.get_json()["state"] == "queued"
    assert app.extensions[JOBS_KEY].board.queued() == [r.get_json()["id"]]


def test_a_plan_that_cannot_be_saved_is_a_503_without_details(tmp_path, monkeypatch):
    app = _app(tmp_path)

    def broken(self, request, result, owner=None, now=None):
        msg = f"无法保存方案 / cannot save the plan: disk full at {tmp_path}/secret"
        raise StoreError(msg)

    monkeypatch.setattr(TourStore, "save", broken)
    r = app.test_client().post("/api/tours", json={"stops": ["S1"]})
    body = assert_bilingual_error(r, 503, None)
    assert "secret" not in r.get_data(as_text=True)
    assert "稍后" in body["message_zh"]


def test_tours_dir_is_configurable(tmp_path, planned):
    folder = tmp_path / "elsewhere"
    app = _app(tmp_path, TOURS_DIR=str(folder))
    r = planned_tour(app.test_client(), {"stops": ["S1"]})
    assert (folder / f"{r.get_json()['id']}.json").is_file()
    # Another folder, other plans: the module's plan is not there.
    assert app.test_client().get(f"/api/tours/{planned.get_json()['id']}").status_code == 404


def test_selectors_add_up_and_optional_takes_them_too(client):
    body = {"stops": ["S1", "S2"], "optional": {"warm_station": 4, "S2": 1}, "days": 2}
    saved = planned_tour(client, body).get_json()
    assert saved["request"]["stops"] == ["S1", "S2"]
    assert saved["request"]["optional"] == {"warm_station": 4, "S2": 1}
    result = saved["result"]
    planned = {s["id"]: s for day in result["days"] for s in day["stops"]}
    left = {u["id"] for u in result["unserved"]}
    assert set(planned) | left == set(GRID)  # S1, S2 and every other warm station
    assert "S1" in planned
    r = client.post("/api/tours", json={"stops": ["S1"], "optional": ["caravan_base"]})
    body = assert_bilingual_error(r, 400, "optional")
    assert "caravan_base" in body["message_zh"]
    assert "matches no stop" in body["message_en"]
