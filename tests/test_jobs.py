"""Jobs off the request path: the board, the cap that holds, the queue and its workers.

The API's side of the protocol (202, /api/jobs/<id>, dedupe, permissions) is in
tests/test_api_jobs.py; here: what a worker does, in this process (``Jobs.run``, which
forks the capped child) and in real worker processes (``flask jobs worker``, Huey's SQLite
queue and Redis).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import make_app

from geoservice.errors import (
    ClientJobsError,
    JobNotFoundError,
    ParameterError,
    QueueFullError,
    error_body,
)
from geoservice.jobs import JobBoard
from geoservice.jobs.board import Limits
from geoservice.jobs.capped import run_capped
from geoservice.web import DEFAULT_NETWORK
from geoservice.web.jobs import JOBS_KEY

ROOT = Path(__file__).resolve().parent.parent


# -- the board -----------------------------------------------------------------------------------


def _submit(board: JobBoard, key: str, client: str = "", per_client=None, **kwargs):
    limits = Limits(10.0, 3, per_client)
    return board.submit("tours", key, {"n": 1}, client=client, limits=limits, **kwargs)


def test_a_key_has_one_job_until_it_fails_or_its_result_is_gone(tmp_path):
    board = JobBoard(tmp_path / "jobs.sqlite")
    job, new = _submit(board, "k1")
    assert new
    assert job.state == "queued"
    again, new = _submit(board, "k1")
    assert (again.id, new) == (job.id, False)
    # Running and done jobs are found again; a done job whose result is gone is not.
    assert board.start(job.id).state == "running"
    assert board.start(job.id) is None  # taken once
    board.progress(job.id, "solve", 3, 10)
    assert board.get(job.id).to_dict()["progress"] == {
        "step": "solve",
        "done": 3,
        "total": 10,
        "fraction": 0.3,
    }
    board.finish(job.id, {"href": "/api/tours/x"})
    assert _submit(board, "k1")[0].id == job.id
    fresh, new = _submit(board, "k1", reusable=lambda j: False)
    assert new
    assert fresh.id != job.id
    # A failed job is not the answer: the same question is asked again.
    board.start(fresh.id)
    board.fail(fresh.id, error_body(500, "错", "error"))
    assert board.get(fresh.id).state == "failed"
    assert _submit(board, "k1", reusable=lambda j: False)[1] is True


def test_the_queue_is_bounded_and_a_queued_job_can_be_cancelled(tmp_path):
    board = JobBoard(tmp_path / "jobs.sqlite")
    ids = [_submit(board, f"k{i}")[0].id for i in range(3)]
    assert [board.position(board.get(i)) for i in ids] == [0, 1, 2]
    with pytest.raises(QueueFullError) as full:
        _submit(board, "k9")
    assert 5 <= full.value.retry_after <= 60
    cancelled = board.request_cancel(ids[0], error_body(410, "已取消", "cancelled"))
    assert cancelled.state == "cancelled"
    assert cancelled.error["status"] == 410
    assert board.start(ids[0]) is None  # a worker skips it
    assert _submit(board, "k9")[1] is True
    with pytest.raises(JobNotFoundError) as unknown:
        board.get("nope")
    assert unknown.value.status == 404


def test_one_client_may_not_fill_the_queue(tmp_path):
    board = JobBoard(tmp_path / "jobs.sqlite")
    first = _submit(board, "a1", client="10.0.0.1", per_client=2)[0]
    _submit(board, "a2", client="10.0.0.1", per_client=2)
    with pytest.raises(ClientJobsError) as refused:
        _submit(board, "a3", client="10.0.0.1", per_client=2)
    assert "2 个计算任务" in refused.value.zh
    assert _submit(board, "a2", client="10.0.0.1", per_client=2)[1] is False  # its own job
    assert _submit(board, "b1", client="10.0.0.2", per_client=2)[1] is True  # another client
    board.start(first.id)
    board.finish(first.id, {"href": "/x"})
    assert _submit(board, "a3", client="10.0.0.1", per_client=2)[1] is True


def test_a_running_job_of_a_dead_worker_is_failed_at_the_next_start(tmp_path):
    board = JobBoard(tmp_path / "jobs.sqlite")
    job, _ = _submit(board, "k")
    board.start(job.id)
    assert board.abandon_orphans(error_body(500, "停", "gone")) == 0  # this process lives
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with board.db.connect() as con:
        con.execute("UPDATE jobs SET runner = ? WHERE id = ?", (dead.pid, job.id))
    assert board.abandon_orphans(error_body(500, "停", "gone")) == 1
    assert board.get(job.id).state == "failed"


def test_flask_jobs_lists_and_cancels(tmp_path):
    app = make_app(tmp_path, JOBS_MODE="queue")
    runner = app.test_cli_runner()
    queued = app.test_client().get("/api/coverage?minutes=5").get_json()
    assert re.fullmatch(r"[0-9a-f]{16}", queued["id"])  # never an option to the CLI ('-…')
    listed = runner.invoke(args=["jobs", "list"])
    assert listed.exit_code == 0
    assert queued["id"] in listed.output
    assert "coverage\tqueued" in listed.output
    cancelled = runner.invoke(args=["jobs", "cancel", queued["id"]])
    assert cancelled.exit_code == 0
    assert f"{queued['id']}\tcancelled" in cancelled.output
    assert queued["id"] not in runner.invoke(args=["jobs", "list"]).output
    assert queued["id"] in runner.invoke(args=["jobs", "list", "--all"]).output
    unknown = runner.invoke(args=["jobs", "cancel", "nope"])
    assert unknown.exit_code == 1
    assert "找不到任务 'nope'" in unknown.output
    inline = make_app(tmp_path / "inline").test_cli_runner().invoke(args=["jobs", "worker"])
    assert inline.exit_code == 1
    assert "JOBS_MODE=inline" in inline.output


# -- the cap ---------------------------------------------------------------------------------------


def _spin(progress):
    # Compiled-code stand-in: a busy loop that never looks at a flag.
    progress("solve", 0, 100)
    while True:
        pass


def test_a_job_is_killed_at_its_cap_whatever_it_does():
    seen = []
    started = time.monotonic()
    outcome = run_capped(_spin, 1.0, lambda *p: seen.append(p))
    took = time.monotonic() - started
    assert outcome.state == "cancelled"
    assert outcome.error["status"] == 503
    assert "1 秒" in outcome.error["message_zh"]
    assert "1 s" in outcome.error["message_en"]
    assert 1.0 <= took < 3.0
    assert seen == [("solve", 0, 100)]


def test_a_job_is_killed_when_cancelled():
    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) >= 2

    outcome = run_capped(_spin, 30.0, lambda *p: None, cancelled)
    assert outcome.state == "cancelled"
    assert outcome.error["status"] == 410


def test_a_job_reports_its_result_or_its_error():
    def ok(progress):
        for i in range(3):
            progress("solve", i + 1, 3)
        return {"href": "/x", "pid": os.getpid()}

    seen = []
    done = run_capped(ok, 10.0, lambda *p: seen.append(p))
    assert done.state == "done"
    assert done.result["href"] == "/x"
    assert done.result["pid"] != os.getpid()  # computed in the child
    assert seen[-1] == ("solve", 3, 3)

    def refused(progress):
        raise ParameterError("days", "天数不足", "too few days", status=422)

    failed = run_capped(refused, 10.0, lambda *p: None)
    assert failed.state == "failed"
    assert failed.error == error_body(422, "天数不足", "too few days", "days")

    def crashes(progress):
        os._exit(3)

    crashed = run_capped(crashes, 10.0, lambda *p: None)
    assert crashed.state == "failed"
    assert crashed.error["status"] == 500


# -- a heavy tour at its cap while the nearest station is asked for --------------------------------


@pytest.fixture(scope="module")
def miyun_queue_app(tmp_path_factory):
    """The Miyun network, jobs on a queue (worked on by the tests themselves)."""
    tmp = tmp_path_factory.mktemp("jobs")
    app = make_app(
        tmp,
        NETWORK_DEFAULT=str(DEFAULT_NETWORK),
        JOBS_MODE="queue",
        RATELIMIT_ENABLED=False,
        JOB_SECONDS_TOURS=3,
    )
    with app.app_context():
        from geoservice.web import get_engine, get_planner

        get_engine()
        get_planner().network()
    return app


@pytest.mark.slow
def test_a_tour_job_is_cancelled_at_its_cap_while_nearest_answers(miyun_queue_app):
    app = miyun_queue_app
    client = app.test_client()
    # 300 villages in one day: minutes of search and estimates (the starving request).
    sites = client.get("/api/sites?kind=village&located=1").get_json()["features"]
    heavy = {"stops": [f["properties"]["id"] for f in sites[:300]], "days": 1}
    posted = client.post("/api/tours", json=heavy)
    assert posted.status_code == 202, posted.get_json()
    job_id = posted.get_json()["id"]
    assert posted.get_json()["state"] == "queued"
    jobs = app.extensions[JOBS_KEY]
    worker = threading.Thread(target=jobs.run, args=(job_id,))
    started = time.monotonic()
    worker.start()
    times = []
    states = set()
    while worker.is_alive():
        t0 = time.perf_counter()
        r = client.get("/api/nearest?lon=116.8432&lat=40.3765")
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200
        states.add(client.get(f"/api/jobs/{job_id}").get_json()["state"])
    worker.join()
    took = time.monotonic() - started
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["state"] == "cancelled", job
    assert job["error"]["status"] == 503
    assert "3 秒上限" in job["error"]["message_zh"]
    assert 3.0 <= took < 6.0
    assert "running" in states
    # The worker's child had the core; nearest kept answering on this one.
    assert len(times) > 20
    assert sorted(times)[int(len(times) * 0.99) - 1] < 0.5


# -- real workers ----------------------------------------------------------------------------------


def _worker(tmp: Path, broker: str, log) -> subprocess.Popen:
    """``flask jobs worker`` on the instance under ``tmp`` (the grid app's config, see
    tests/jobs_instance.py)."""
    env = {
        **os.environ,
        "GEOSERVICE_TEST_INSTANCE": str(tmp),
        "GEOSERVICE_JOBS_BROKER": broker,
        "PYTHONPATH": str(ROOT / "tests") + os.pathsep + str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "jobs_instance:app", "jobs", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_done(client, job_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} still {job['state']}")


def _worker_plans_a_tour(tmp: Path, broker: str) -> None:
    import jobs_instance

    with (tmp / "worker.log").open("w") as log:
        _plan_with(jobs_instance, tmp, broker, log)


def _plan_with(jobs_instance, tmp: Path, broker: str, log) -> None:
    worker = _worker(tmp, broker, log)  # first: its start overlaps the app's here
    app = jobs_instance.make(tmp, broker)
    client = app.test_client()
    try:
        posted = client.post("/api/tours", json={"depot": "T00", "stops": ["T01", "T02"]})
        assert posted.status_code == 202, posted.get_json()
        job = _wait_done(client, posted.get_json()["id"])
        assert job["state"] == "done", job
        plan = client.get(job["result"]["href"])
        assert plan.status_code == 200
        assert plan.get_json()["id"] == job["result"]["tour_id"]
        # A coverage answer is a job too, then served from the shared cache.
        first = client.get("/api/coverage?minutes=3")
        assert first.status_code == 202
        job = _wait_done(client, first.get_json()["id"])
        assert job["state"] == "done", job
        answer = client.get(job["result"]["href"])
        assert answer.status_code == 200
        assert answer.get_json()["type"] == "FeatureCollection"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            pytest.fail("the worker did not stop on SIGTERM")


@pytest.mark.slow
def test_a_worker_process_runs_jobs_from_the_sqlite_queue(tmp_path):
    _worker_plans_a_tour(tmp_path, "")


@pytest.mark.slow
def test_a_worker_process_runs_jobs_from_redis(tmp_path, redis_url):
    _worker_plans_a_tour(tmp_path, redis_url)
