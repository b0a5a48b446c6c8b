"""The job protocol over HTTP: ``GET /api/jobs/<id>`` (the body, its states, the link to the
result, 404), the same question answered by one job, who may cancel (``DELETE``), the rate
limit, and coverage answers not cached yet, which are jobs too (202).

Most apps here run jobs inline (the test apps' mode, ``make_app``): a job is finished when
its request is answered. The queue's apps have a real queue (Huey's SQLite file beside the
store, in tmp) that no worker works on, so their jobs stay queued until a test runs one.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema_rs  # the validator schemathesis itself uses
import pytest
from conftest import STAFF_PASSWORD, assert_bilingual_error, login_as, make_app
from test_api_tours import _app
from test_tour import GRID

from geoservice import __version__
from geoservice.errors import excerpt
from geoservice.messages import message
from geoservice.responses import JobBody
from geoservice.web import get_coverage
from geoservice.web.auth import STAFF_KEY
from geoservice.web.jobs import JOBS_KEY
from geoservice.web.openapi import spec

TOUR = {"stops": ["S1", "S2"], "days": 1}
#: More mandatory work than a day holds: the planner's 422 (after the stops are resolved).
TOO_MUCH = {"stops": GRID, "days": 1, "service_minutes": 200}
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _staff(app) -> dict[str, dict[str, str]]:
    """Bearer headers of alice and bob (editors) and root (admin)."""
    accounts = app.extensions[STAFF_KEY].accounts
    headers = {}
    for name, role in (("alice", "editor"), ("bob", "editor"), ("root", "admin")):
        accounts.create(name, role, STAFF_PASSWORD)
        headers[name] = {"Authorization": f"Bearer {accounts.issue_token(name)}"}
    return headers


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return _app(tmp_path_factory.mktemp("jobs_api"), TOURS_ITERATIONS=50)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture
def queue_app(tmp_path):
    """Jobs on a queue nobody works on; every file in tmp_path."""
    return _app(tmp_path, JOBS_MODE="queue", TOURS_ITERATIONS=50)


def _valid(job: dict) -> None:
    """``job`` is a JobBody as the OpenAPI description documents it."""
    doc = spec(__version__)
    schema = {"$ref": "#/components/schemas/JobBody", "components": doc["components"]}
    jsonschema_rs.Draft202012Validator(schema).validate(job)


# -- a job's body ---------------------------------------------------------------------------------


def test_a_done_tour_job_shows_its_states_and_links_its_plan(app, client):
    posted = client.post("/api/tours", json=TOUR)
    assert posted.status_code == 202, posted.get_json()
    job = posted.get_json()
    assert posted.headers["Location"] == f"/api/jobs/{job['id']}"
    assert posted.headers["Retry-After"] == "1"
    assert re.fullmatch(r"[A-Za-z0-9_-]{12,}", job["id"])  # unguessable: it lets one cancel
    read = client.get(posted.headers["Location"])
    assert read.status_code == 200
    assert read.get_json() == job
    assert set(job) == set(JobBody.__annotations__)
    _valid(job)
    assert (job["kind"], job["state"], job["error"], job["queue_position"]) == (
        "tours",
        "done",
        None,
        None,
    )
    progress = job["progress"]
    assert progress["step"] == "schedule"
    assert progress["done"] == progress["total"] > 0
    assert progress["fraction"] == 1.0
    assert job["cap_seconds"] == app.config["JOB_SECONDS_TOURS"]
    assert 0 <= job["elapsed_seconds"] < 60
    assert all(re.fullmatch(ISO, job[k]) for k in ("created", "started", "finished"))
    assert job["created"] <= job["started"] <= job["finished"]
    # The result: the saved plan, by its id.
    tour_id = job["result"]["tour_id"]
    assert job["result"] == {"href": f"/api/tours/{tour_id}", "tour_id": tour_id}
    plan = client.get(job["result"]["href"])
    assert plan.status_code == 200
    assert plan.get_json()["id"] == tour_id
    assert plan.get_json()["request"]["stops"] == TOUR["stops"]


def test_links_are_made_under_the_sites_prefix(client):
    # Served under a path prefix (a reverse proxy's SCRIPT_NAME), the links keep it.
    posted = client.post("/api/tours", json=TOUR, base_url="http://localhost/geo/")
    assert posted.status_code == 202, posted.get_json()
    job = posted.get_json()
    assert posted.headers["Location"] == f"/geo/api/jobs/{job['id']}"
    assert job["result"]["href"] == f"/geo/api/tours/{job['result']['tour_id']}"
    assert client.get(f"/api/jobs/{job['id']}").get_json()["result"]["href"].startswith("/api/")


def test_a_failed_tour_is_answered_with_its_error_and_shown_failed(app, client):
    board = app.extensions[JOBS_KEY].board
    r = client.post("/api/tours", json=TOO_MUCH)
    body = assert_bilingual_error(r, 422, "days", extra=("stops", "days_needed"))
    assert "Location" not in r.headers
    failed = board.recent(("failed",))[0]
    job = client.get(f"/api/jobs/{failed.id}").get_json()
    assert (job["kind"], job["state"], job["result"]) == ("tours", "failed", None)
    assert job["error"] == body  # the job keeps the error the request was answered with
    _valid(job)
    # A failure is not kept as the answer: the same request is planned again.
    again = client.post("/api/tours", json=TOO_MUCH)
    assert again.status_code == 422
    assert board.recent(("failed",))[0].id != failed.id


@pytest.mark.parametrize(
    "job_id", ["nope", "x" * 5000, "<script>alert(1)</script>", "a/b", "%00", "..%2F..%2Fetc"]
)
def test_an_unknown_job_is_a_bilingual_404(client, job_id):
    for method in ("get", "delete"):
        r = getattr(client, method)(f"/api/jobs/{job_id}")
        body = assert_bilingual_error(r, 404, "id")
        assert len(body["error"]) < 300
        assert r.mimetype == "application/json"  # an echoed id is data, never a page
    zh, en = message("jobs.unknown", id=excerpt("nope"))
    assert client.get("/api/jobs/nope").get_json()["message_en"] == en
    assert client.get("/api/jobs/nope").get_json()["message_zh"] == zh


# -- one question, one job ------------------------------------------------------------------------


def test_the_same_request_is_one_job_and_one_plan_per_owner(app, client):
    staff = _staff(app)
    body = {"stops": ["S1", "S3"], "days": 2}
    first = client.post("/api/tours", json=body).get_json()
    second = client.post("/api/tours", json=body).get_json()
    assert second["id"] == first["id"]
    assert second["result"]["tour_id"] == first["result"]["tour_id"]
    # The same stops written otherwise (a key order) are the same question.
    reordered = client.post("/api/tours", json={"days": 2, "stops": ["S1", "S3"]}).get_json()
    assert reordered["id"] == first["id"]
    # Another owner: a job and a plan of their own (a plan belongs to who asked).
    alice = client.post("/api/tours", json=body, headers=staff["alice"]).get_json()
    assert alice["id"] != first["id"]
    assert alice["result"]["tour_id"] != first["result"]["tour_id"]
    assert client.post("/api/tours", json=body, headers=staff["alice"]).get_json() == alice
    # Another question: another job.
    other = client.post("/api/tours", json={**body, "days": 3}).get_json()
    assert other["id"] not in (first["id"], alice["id"])


def test_a_plan_gone_from_the_store_is_planned_again(app, client):
    body = {"stops": ["S2", "S3"], "days": 2}
    first = client.post("/api/tours", json=body).get_json()
    # The plan's file removed (anonymous plans expire after a day): its job is not reused.
    (Path(app.config["TOURS_DIR"]) / f"{first['result']['tour_id']}.json").unlink()
    again = client.post("/api/tours", json=body).get_json()
    assert again["id"] != first["id"]
    assert again["state"] == "done"
    assert client.get(again["result"]["href"]).status_code == 200


# -- cancelling -----------------------------------------------------------------------------------


def _queued(client, body, **kwargs) -> str:
    r = client.post("/api/tours", json=body, **kwargs)
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["state"] == "queued"
    return r.headers["Location"]


def test_who_may_cancel_a_job(queue_app):
    staff = _staff(queue_app)
    client = queue_app.test_client()
    # An anonymous job: whoever holds its id.
    anonymous = _queued(client, {"stops": ["S1"]})
    r = queue_app.test_client().delete(anonymous)
    assert r.status_code == 200, r.get_json()
    job = r.get_json()
    assert (job["state"], job["result"], job["queue_position"]) == ("cancelled", None, None)
    assert (job["error"]["message_zh"], job["error"]["message_en"]) == message("jobs.cancelled")
    assert re.fullmatch(ISO, job["finished"])
    assert client.get(anonymous).get_json() == job
    # Alice's job: not anonymous callers (401), not bob (403); alice or an admin.
    alices = _queued(client, {"stops": ["S2"]}, headers=staff["alice"])
    assert_bilingual_error(client.delete(alices), 401, "Authorization")
    body = assert_bilingual_error(client.delete(alices, headers=staff["bob"]), 403, "id")
    assert "自己的任务" in body["message_zh"]
    assert client.get(alices).get_json()["state"] == "queued"
    r = client.delete(alices, headers=staff["root"])
    assert (r.status_code, r.get_json()["state"]) == (200, "cancelled")
    again = _queued(client, {"stops": ["S3"]}, headers=staff["alice"])
    r = client.delete(again, headers=staff["alice"])
    assert (r.status_code, r.get_json()["state"]) == (200, "cancelled")
    # A finished job stays as it is.
    assert client.delete(again, headers=staff["alice"]).get_json()["state"] == "cancelled"
    assert queue_app.extensions[JOBS_KEY].board.queued() == []


def test_a_page_session_cancels_its_job_with_its_csrf_token(queue_app):
    session = queue_app.test_client()
    login_as(queue_app, session, "editor", name="carol")
    location = _queued(session, {"stops": ["S1"]})  # the page session owns the job
    assert_bilingual_error(session.delete(location), 401, "X-CSRFToken")
    page = session.get("/login").get_data(as_text=True)  # any page with the token
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    r = session.delete(location, headers={"X-CSRFToken": token})
    assert (r.status_code, r.get_json()["state"]) == (200, "cancelled")


# -- bounds ----------------------------------------------------------------------------------------


def test_reading_jobs_is_rate_limited_per_client(tmp_path):
    app = _app(tmp_path, JOBS_MODE="queue", RATELIMIT_ENABLED=True, RATELIMIT_JOBS="2 per minute")
    client = app.test_client()
    location = _queued(client, {"stops": ["S1"]})
    for _ in range(2):
        assert client.get(location).status_code == 200
    r = client.get(location)
    assert_bilingual_error(r, 429, None)
    assert int(r.headers["Retry-After"]) > 0
    # Another client is not limited by this one; cancelling is not limited.
    assert client.get(location, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200
    assert client.delete(location).status_code == 200


def test_queued_jobs_show_their_place_in_the_queue(queue_app):
    client = queue_app.test_client()
    first = _queued(client, {"stops": ["S1"]})
    second = _queued(client, {"stops": ["S2"]})
    assert client.get(first).get_json()["queue_position"] == 0
    job = client.get(second).get_json()
    assert job["queue_position"] == 1
    assert (job["progress"], job["started"], job["elapsed_seconds"]) == (
        {"step": "", "done": 0, "total": 0, "fraction": 0.0},
        None,
        None,
    )
    _valid(job)
    client.delete(first)
    assert client.get(second).get_json()["queue_position"] == 0


# -- coverage answers as jobs ----------------------------------------------------------------------


def test_coverage_not_cached_yet_is_a_job_to_follow(tmp_path):
    app = make_app(tmp_path, JOBS_MODE="queue", RATELIMIT_ENABLED=False)
    client = app.test_client()
    r = client.get("/api/coverage?minutes=5")
    assert r.status_code == 202, r.get_data(as_text=True)[:300]
    job = r.get_json()
    assert r.headers["Location"] == f"/api/jobs/{job['id']}"
    assert int(r.headers["Retry-After"]) > 0
    assert "ETag" not in r.headers
    assert (job["kind"], job["state"], job["queue_position"], job["result"]) == (
        "coverage",
        "queued",
        0,
        None,
    )
    assert job["cap_seconds"] == app.config["JOB_SECONDS_COVERAGE"]
    _valid(job)
    # Asked again while it waits: the same job, not another one in the queue.
    again = client.get("/api/coverage?minutes=5")
    assert (again.status_code, again.get_json()["id"]) == (202, job["id"])
    assert client.get(r.headers["Location"]).get_json()["state"] == "queued"
    # Another question, another job; suggestions are jobs of their own kind.
    other = client.get("/api/coverage?minutes=10").get_json()
    assert other["id"] != job["id"]
    assert other["queue_position"] == 1
    suggest = client.get("/api/coverage/suggest?mode=walk&minutes=10&n=1")
    assert suggest.status_code == 202
    assert suggest.get_json()["kind"] == "suggest"
    # A bad parameter is refused at once, not queued.
    assert_bilingual_error(client.get("/api/coverage?minutes=-5"), 400, "minutes")
    assert len(app.extensions[JOBS_KEY].board.queued()) == 3


def test_a_coverage_job_run_by_a_worker_links_to_the_cached_answer(tmp_path):
    # What a worker does: warm the coverage engine (flask jobs worker does before it forks
    # its workers), then run a job it took under its cap, in a forked child process.
    app = make_app(tmp_path, JOBS_MODE="queue", RATELIMIT_ENABLED=False, JOB_SECONDS_COVERAGE=30)
    with app.app_context():
        get_coverage().warm(("walk",))
    client = app.test_client()
    url = "/api/coverage?minutes=5"
    job_id = client.get(url).get_json()["id"]
    app.extensions[JOBS_KEY].run(job_id)
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert (job["state"], job["error"]) == ("done", None), job
    assert job["result"] == {"href": url}
    assert job["progress"]["fraction"] == 1.0
    # The answer is cached now: the same URL answers 200 (with its ETag), no new job.
    answer = client.get(job["result"]["href"])
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["type"] == "FeatureCollection"
    assert answer.headers["ETag"]
    assert app.extensions[JOBS_KEY].board.queued() == []


def test_a_tour_job_run_by_a_worker_links_its_plan(tmp_path):
    app = _app(tmp_path, JOBS_MODE="queue", TOURS_ITERATIONS=50)
    client, jobs = app.test_client(), app.extensions[JOBS_KEY]
    location = _queued(client, TOUR)
    jobs.run(location.rsplit("/", 1)[1])
    job = client.get(location).get_json()
    assert (job["state"], job["error"], job["queue_position"]) == ("done", None, None), job
    assert job["progress"]["fraction"] == 1.0
    assert job["elapsed_seconds"] >= 0
    assert client.get(job["result"]["href"]).status_code == 200


def test_a_job_at_its_cap_is_stopped_and_cancelled_with_a_503(tmp_path):
    app = _app(tmp_path, JOBS_MODE="queue", JOB_SECONDS_TOURS=0.01)
    client = app.test_client()
    location = _queued(client, TOUR)
    assert client.get(location).get_json()["cap_seconds"] == 0.01
    app.extensions[JOBS_KEY].run(location.rsplit("/", 1)[1])  # the child is killed at once
    job = client.get(location).get_json()
    assert (job["state"], job["result"]) == ("cancelled", None), job
    assert job["error"]["status"] == 503
    zh, en = message("jobs.cap", seconds="0.01")
    assert (job["error"]["message_zh"], job["error"]["message_en"]) == (zh, en)
    _valid(job)
    # Asked again, it is a new job: a stopped job is not the answer.
    assert _queued(client, TOUR) != location
