"""Jobs in the web app: an app's job board and queue, the kinds of job it runs (tour plans,
coverage answers, site suggestions), the answers that point to a job, and ``flask jobs``.

Configuration (see :func:`geoservice.web.create_app`): ``JOBS_MODE`` (``"queue"``, or
``"inline"`` to run each job in the request or command that submits it), ``JOBS_BROKER``
(``""``: Huey's SQLite file beside the store; ``"redis://…"``), ``JOBS_DB`` (the board,
default ``jobs.sqlite`` beside the store), ``JOBS_QUEUE_MAX``, ``JOBS_WORKERS``, ``JOBS_NICE``,
``JOBS_PER_CLIENT``, ``JOB_SECONDS_TOURS`` and ``JOB_SECONDS_COVERAGE`` (the caps).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, Response, current_app, jsonify, request, url_for
from flask.cli import AppGroup

from geoservice import __version__, service
from geoservice.errors import AccessError, JobNotFoundError, TourNotFoundError
from geoservice.jobs import Job, JobBoard, Jobs, Kind, Progress, make_queue
from geoservice.jobs.board import ACTIVE, STATES
from geoservice.tours.request import TourRequest
from geoservice.web import answers, http_errors

__all__ = ["JOBS_KEY", "answer_job", "get_jobs", "init_app", "job_answer", "tour_job"]

JOBS_KEY = "geoservice.jobs"
#: Seconds a client is asked to wait before it looks at a job again.
POLL_SECONDS = 1
_ID = "id"


def init_app(app: Flask) -> None:
    """Give ``app`` its jobs (board, queue, kinds) and the ``flask jobs`` commands."""
    folder = Path(app.config["STORE_PATH"]).parent  # beside the store, as the staff database
    mode = app.config["JOBS_MODE"]
    if mode not in ("queue", "inline"):
        msg = f"JOBS_MODE must be 'queue' or 'inline', not {mode!r}"
        raise ValueError(msg)
    board = JobBoard(app.config["JOBS_DB"] or folder / "jobs.sqlite")
    queue = None if mode == "inline" else make_queue(app.config["JOBS_BROKER"], folder)
    coverage_cap = float(app.config["JOB_SECONDS_COVERAGE"])
    kinds = {
        "tours": Kind(
            "tours",
            functools.partial(_run_tour, app),
            float(app.config["JOB_SECONDS_TOURS"]),
            functools.partial(_plan_kept, app),
        ),
        "coverage": Kind(
            "coverage",
            functools.partial(_run_answer, app, "coverage"),
            coverage_cap,
            functools.partial(_answer_kept, app),
        ),
        "suggest": Kind(
            "suggest",
            functools.partial(_run_answer, app, "suggest"),
            coverage_cap,
            functools.partial(_answer_kept, app),
        ),
    }
    per_client = app.config["JOBS_PER_CLIENT"]
    app.extensions[JOBS_KEY] = Jobs(
        board,
        kinds,
        queue,
        int(app.config["JOBS_QUEUE_MAX"]),
        None if per_client is None else int(per_client),
    )
    app.cli.add_command(jobs_cli)


def get_jobs() -> Jobs:
    """The current app's jobs."""
    return current_app.extensions[JOBS_KEY]


# -- the kinds: what a job computes (in a worker's child process, or inline) -------------------


def _run_tour(app: Flask, params: dict, progress: Progress) -> dict:
    from geoservice.web import get_planner

    with app.app_context():
        saved = get_planner().plan(
            TourRequest.parse(params["request"]), progress, owner=params["owner"]
        )
    return {"href": f"/api/tours/{saved['id']}", "tour_id": saved["id"]}


def _plan_kept(app: Flask, job: Job) -> bool:
    from geoservice.web import get_tour_store

    with app.app_context():
        try:
            get_tour_store().get(str((job.result or {}).get("tour_id")))
        except TourNotFoundError:
            return False
    return True


def _run_answer(app: Flask, operation: str, params: dict, progress: Progress) -> dict:
    from geoservice.web import get_coverage

    with app.app_context():
        progress("areas", 0, 1)
        args = params["args"]
        if operation == "coverage":
            req: Any = service.coverage_request(args)

            def compute() -> dict:
                return service.coverage(get_coverage(), req)
        else:
            req = service.suggest_request(args)

            def compute() -> dict:
                return service.coverage_suggest(get_coverage(), req)

        # The tag of the revision and network it is computed on now (they may have changed
        # since it was asked for: then the link below asks again, for the new ones).
        answers.build(answers.tag(service.answer_key(operation, req.to_dict())), compute)
        progress("areas", 1, 1)
    return {"href": params["href"]}


def _answer_kept(app: Flask, job: Job) -> bool:
    with app.app_context():
        return answers.get_cache().has(job.key)


# -- submitting from a request ----------------------------------------------------------------


def answer_job(operation: str, answer_tag: str) -> Job:
    """The job that computes the answer of the current request (``/api/coverage``,
    ``/api/coverage/suggest``) under ``answer_tag``; its result links back to the request."""
    query = request.query_string.decode("ascii", "replace")
    href = request.path + (f"?{query}" if query else "")
    args = {k: request.args.getlist(k) for k in request.args}
    return get_jobs().submit(operation, answer_tag, {"args": args, "href": href}, client=_client())


def tour_job(body: bytes, content_type: str | None, owner: str | None) -> Job:
    """The job that plans the tour of a ``POST /api/tours`` body for ``owner``.

    The body is parsed and its stops resolved against the store first, so that a bad
    request is a 400 or 422 at once and never waits in the queue.
    """
    from geoservice.web import get_library, get_planner, get_store

    tour_request = service.tour_request(body, content_type)
    resolved = get_planner().resolve(tour_request)
    store = get_store()
    identity = json.dumps(
        [
            __version__,
            resolved.normalized,
            store.location(),
            store.revision(),
            get_library().token(),
            owner,
        ],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    key = "tours:" + hashlib.sha256(identity.encode()).hexdigest()
    params = {"request": json.loads(body), "owner": owner}
    return get_jobs().submit("tours", key, params, owner=owner, client=_client())


def _client() -> str:
    """Who asks, as the rate limits count clients (the address, after trusted proxies)."""
    return request.remote_addr or ""


# -- answering ----------------------------------------------------------------------------------


def job_body(job: Job) -> dict:
    """The job as the API shows it, with its links made absolute to this site's root."""
    jobs = get_jobs()
    body: dict = dict(job.to_dict(jobs.board.position(job) if job.state == "queued" else None))
    if job.result and "href" in job.result:
        body["result"] = {**job.result, "href": request.script_root + job.result["href"]}
    return body


def job_answer(job: Job) -> Response:
    """The answer to a request that made or found ``job``: ``202 Accepted`` with its
    ``Location`` (and when to look again), or, for a job that already failed (an inline
    job), that job's error with its status."""
    if job.state in ("failed", "cancelled") and job.error is not None:
        headers = [("Retry-After", "5")] if job.error["status"] == 503 else []
        return http_errors.answer(job.error, headers)
    response = jsonify(job_body(job))
    response.status_code = 202
    response.headers["Location"] = url_for("api.job", job_id=job.id)
    response.headers["Retry-After"] = str(POLL_SECONDS)
    return response


def may_cancel(job: Job) -> None:
    """Whether the current client may cancel ``job``: a user's job that user (bearer token,
    or session with its CSRF token) or an admin; an anonymous job the address that asked
    for it, or an admin. Others may be following the same job (the same question is one
    job), so a stranger holding its id may not stop it.

    Raises
    ------
    AccessError
        401 without a login where one is needed, 403 for another user.
    """
    from geoservice.web import auth

    if job.owner is None and job.client == _client():
        return
    user = auth.api_user()
    if user.name != job.owner and not user.is_admin:
        zh, en = "只能取消自己的任务", "only the user who asked may cancel this job"
        raise AccessError(_ID, zh, en, status=403)


# -- flask jobs ---------------------------------------------------------------------------------


jobs_cli = AppGroup("jobs", help="Jobs off the request path: run workers, list, cancel (任务).")


@jobs_cli.command("worker")
@click.option("--workers", type=int, default=None, help="worker processes (JOBS_WORKERS)")
@click.option("--nice", type=int, default=None, help="CPU niceness of the workers (JOBS_NICE)")
def worker_command(workers: int | None, nice: int | None) -> None:
    """Run job workers until stopped (what `python app.py` starts beside the web processes;
    with JOBS_BROKER=redis://…, start as many as the machine has cores to spare)."""
    work(current_app._get_current_object(), workers=workers, nice=nice)  # type: ignore[attr-defined]


def work(app: Flask, workers: int | None = None, nice: int | None = None) -> None:
    """Load the road networks and coverage tables, lower the CPU priority, and run the job
    workers of ``app`` until stopped. Workers fork from this process, so they share what it
    loaded."""
    from geoservice.web import get_coverage, get_planner, logs

    jobs: Jobs = app.extensions[JOBS_KEY]
    if jobs.inline:
        msg = "JOBS_MODE=inline: jobs run where they are submitted"
        raise click.ClickException(msg)
    # Each job's end (and Huey's own records) as the web processes log: LOG_FORMAT lines.
    logs.configure(app.config.get("LOG_FORMAT", "json"))
    started = time.perf_counter()
    with app.app_context():
        try:
            get_planner().network()  # tours: the drive network
            get_coverage().warm(("walk",))  # coverage: the tables of the /coverage page's view
        except Exception as exc:  # jobs that need the networks fail with a clear error
            click.echo(f"geoservice jobs: road networks unavailable: {exc}", err=True)
    os.nice(int(app.config["JOBS_NICE"] if nice is None else nice))
    n = int(app.config["JOBS_WORKERS"] if workers is None else workers)
    click.echo(
        f"geoservice jobs: {n} worker(s) ready in {time.perf_counter() - started:.1f} s",
        err=True,
    )
    jobs.work(n)


@jobs_cli.command("list")
@click.option("--all", "everything", is_flag=True, help="finished jobs too")
def list_command(everything: bool) -> None:
    """The queued and running jobs (newest first)."""
    jobs = get_jobs()
    states = STATES if everything else ACTIVE
    for job in jobs.board.recent(states):
        d = job.to_dict()
        p = d["progress"]
        click.echo(
            f"{job.id}\t{job.kind}\t{job.state}\t{p['step']} {p['done']}/{p['total']}\t"
            f"{d['created']}\t{job.owner or '-'}"
        )


@jobs_cli.command("cancel")
@click.argument("job_id")
def cancel_command(job_id: str) -> None:
    """Cancel a queued or running job."""
    try:
        job = get_jobs().cancel(job_id)
    except JobNotFoundError as exc:
        raise click.ClickException(exc.message) from exc
    stopping = " (stopping)" if job.cancel and job.state == "running" else ""
    click.echo(f"{job.id}\t{job.state}{stopping}")
