"""The job board: every job's state, progress and outcome in one SQLite file
(``instance/jobs.sqlite``), shared by the web processes (which submit and read) and the job
workers (which run and report).

A job moves ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled`` (at its cap, or
on request); a queued job can be cancelled before it starts. Each job has a *key*: the
request that made it, the store revision and the road network it is computed on. While a
job of that key is queued, running or done (and its result still there), submitting the
same key returns that job instead of making another: the same question is answered once.

The queue itself (what a worker takes next) is Huey's (:mod:`geoservice.jobs.dispatch`); this
board is what the API shows, what bounds the queue, and what tells a worker a job was
cancelled. Transactions are ``BEGIN IMMEDIATE`` (:class:`geoservice.admin.db.Database`), so
two processes submitting the same key at once get one job.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from geoservice.admin.db import Database
from geoservice.errors import ClientJobsError, JobNotFoundError, QueueFullError
from geoservice.responses import ErrorBody, JobBody

__all__ = ["ACTIVE", "FINISHED", "STATES", "Job", "JobBoard", "Limits"]

#: Every state, in the order a job goes through them.
STATES = ("queued", "running", "done", "failed", "cancelled")
#: States a job leaves on its own.
ACTIVE = ("queued", "running")
#: States a job never leaves.
FINISHED = ("done", "failed", "cancelled")
#: Finished jobs are forgotten after this long (their results live elsewhere: saved plans,
#: cached answers).
KEEP_SECONDS = 7 * 24 * 3600

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT,
        state TEXT NOT NULL,
        step TEXT NOT NULL DEFAULT '',
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL DEFAULT 0,
        params TEXT NOT NULL,
        result TEXT,
        error TEXT,
        cancel INTEGER NOT NULL DEFAULT 0,
        runner INTEGER,
        cap REAL NOT NULL,
        created REAL NOT NULL,
        started REAL,
        finished REAL
    );
    CREATE INDEX jobs_key ON jobs(key, created);
    CREATE INDEX jobs_state ON jobs(state, created)
    """,
    # Who asked (the client's address): one client may not fill the queue.
    """
    ALTER TABLE jobs ADD COLUMN client TEXT NOT NULL DEFAULT '';
    CREATE INDEX jobs_client ON jobs(client, state)
    """,
)


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True)
class Job:
    """One job as the board holds it.

    Attributes
    ----------
    id : str
        80 random bits, URL-safe: whoever holds the id may follow (and cancel) the job.
    kind : str
        ``"tours"``, ``"coverage"``, ``"suggest"``.
    key : str
        The question's identity (request, store revision, network, owner for plans).
    owner : str or None
        The user who asked (None: anonymous).
    client : str
        The address it was asked from.
    state : str
        One of `STATES`.
    step, done, total
        The progress: the step being worked on and how far it is.
    params : dict
        What the job is computed from (the parsed request, JSON-ready).
    result : dict or None
        When done: ``{"href": ...}`` and what the kind adds (a plan's id).
    error : dict or None
        When failed or cancelled: the API's error body (``status``, bilingual messages).
    cap : float
        The job's wall-clock limit, in seconds.
    created, started, finished : float or None
        Epoch seconds.
    """

    id: str
    kind: str
    key: str
    owner: str | None
    client: str
    state: str
    step: str
    done: int
    total: int
    params: dict
    result: dict | None
    error: ErrorBody | None
    cancel: bool
    cap: float
    created: float
    started: float | None
    finished: float | None

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            key=row["key"],
            owner=row["owner"],
            client=row["client"],
            state=row["state"],
            step=row["step"],
            done=row["done"],
            total=row["total"],
            params=json.loads(row["params"]),
            result=None if row["result"] is None else json.loads(row["result"]),
            error=None if row["error"] is None else json.loads(row["error"]),
            cancel=bool(row["cancel"]),
            cap=row["cap"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
        )

    def to_dict(self, position: int | None = None) -> JobBody:
        """The job as the API shows it (``GET /api/jobs/<id>``).

        Parameters
        ----------
        position : int, optional
            Jobs ahead of this one in the queue (for a queued job).
        """
        fraction = self.done / self.total if self.total else (1.0 if self.state == "done" else 0.0)
        elapsed = None
        if self.started is not None:
            elapsed = round((self.finished or time.time()) - self.started, 1)
        return {
            "id": self.id,
            "kind": cast(Any, self.kind),
            "state": cast(Any, self.state),
            "progress": {
                "step": self.step,
                "done": self.done,
                "total": self.total,
                "fraction": round(min(max(fraction, 0.0), 1.0), 3),
            },
            "queue_position": position if self.state == "queued" else None,
            "cap_seconds": self.cap,
            "elapsed_seconds": elapsed,
            "created": _iso(self.created) or "",
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "result": cast(Any, self.result),
            "error": self.error,
        }


@dataclass(frozen=True)
class Limits:
    """What a new job may take.

    Attributes
    ----------
    cap : float
        Its wall-clock limit, in seconds.
    queue_max : int
        Most jobs queued at once; one more is refused.
    per_client : int, optional
        Most jobs one client may have queued or running (None: no bound), so that no client
        fills the queue that everyone shares.
    """

    cap: float
    queue_max: int
    per_client: int | None = None


class JobBoard:
    """The jobs of one instance, in the SQLite file at ``path``.

    Parameters
    ----------
    path : str or Path
        E.g. ``instance/jobs.sqlite`` (created on first use).
    """

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, migrations=_MIGRATIONS)

    # -- what the web processes do -------------------------------------------------------------

    def submit(
        self,
        kind: str,
        key: str,
        params: Mapping[str, Any],
        *,
        owner: str | None = None,
        client: str = "",
        limits: Limits,
        reusable: Callable[[Job], bool] = lambda job: True,
    ) -> tuple[Job, bool]:
        """The job that answers ``key``: the one already queued, running or done, or a new
        queued one.

        Parameters
        ----------
        kind, key, params, owner
            See :class:`Job`.
        client : str
            Who asks (counted against ``limits.per_client``).
        limits : Limits
            The new job's cap and the queue's bounds.
        reusable : callable
            Whether a done job's result is still there (a saved plan may have expired).

        Returns
        -------
        (Job, bool)
            The job, and whether it is new (then the caller puts it on the queue).

        Raises
        ------
        QueueFullError
            ``limits.queue_max`` jobs are waiting already (HTTP 503 with ``Retry-After``).
        ClientJobsError
            ``client`` has ``limits.per_client`` jobs queued or running (HTTP 429).
        """
        now = time.time()
        with self.db.connect() as con:
            con.execute(
                "DELETE FROM jobs WHERE state IN ('done','failed','cancelled') AND finished < ?",
                (now - KEEP_SECONDS,),
            )
            row = con.execute(
                "SELECT * FROM jobs WHERE key = ? AND state IN ('queued','running','done') "
                "ORDER BY created DESC LIMIT 1",
                (key,),
            ).fetchone()
            if row is not None:
                job = Job._from_row(row)
                if job.state != "done" or reusable(job):
                    return job, False
            if limits.per_client is not None:
                mine = con.execute(
                    "SELECT count(*) FROM jobs WHERE client = ? AND state IN ('queued','running')",
                    (client,),
                ).fetchone()[0]
                if mine >= limits.per_client:
                    raise ClientJobsError(limits.per_client, retry_after=_retry_after(con, now))
            queued = con.execute("SELECT count(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
            if queued >= limits.queue_max:
                raise QueueFullError(retry_after=_retry_after(con, now))
            # Hex: never a leading '-', which `flask jobs cancel ID` would read as an option.
            job_id = secrets.token_hex(8)
            con.execute(
                "INSERT INTO jobs(id, kind, key, owner, state, params, cap, created, client) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
                (
                    job_id,
                    kind,
                    key,
                    owner,
                    json.dumps(params, ensure_ascii=False),
                    limits.cap,
                    now,
                    client,
                ),
            )
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job._from_row(row), True

    def get(self, job_id: str) -> Job:
        """The job ``job_id``.

        Raises
        ------
        JobNotFoundError
            No such job (or it was forgotten: see `KEEP_SECONDS`).
        """
        with self.db.connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(job_id)
        return Job._from_row(row)

    def position(self, job: Job) -> int:
        """Queued jobs ahead of ``job``."""
        with self.db.connect() as con:
            return int(
                con.execute(
                    "SELECT count(*) FROM jobs WHERE state = 'queued' AND created < ?",
                    (job.created,),
                ).fetchone()[0]
            )

    def request_cancel(self, job_id: str, error: ErrorBody) -> Job:
        """Cancel ``job_id``: a queued job at once, a running one when its worker next looks
        (within a second); a finished job stays as it is.

        Parameters
        ----------
        error : dict
            The error body a queued job is cancelled with (what ``GET`` then shows).
        """
        now = time.time()
        with self.db.connect() as con:
            con.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ?, error = ? "
                "WHERE id = ? AND state = 'queued'",
                (now, json.dumps(error, ensure_ascii=False), job_id),
            )
            con.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND state = 'running'", (job_id,))
        return self.get(job_id)

    def recent(self, states: tuple[str, ...] = STATES, limit: int = 100) -> list[Job]:
        """The newest jobs in ``states``, newest first."""
        marks = ",".join("?" * len(states))
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created DESC LIMIT ?",
                (*states, limit),
            ).fetchall()
        return [Job._from_row(r) for r in rows]

    # -- what a worker does ----------------------------------------------------------------------

    def start(self, job_id: str) -> Job | None:
        """Mark ``job_id`` running in this process; None when it is no longer queued
        (cancelled meanwhile, or taken by another worker)."""
        with self.db.connect() as con:
            cur = con.execute(
                "UPDATE jobs SET state = 'running', started = ?, runner = ? "
                "WHERE id = ? AND state = 'queued'",
                (time.time(), os.getpid(), job_id),
            )
            if cur.rowcount == 0:
                return None
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job._from_row(row)

    def progress(self, job_id: str, step: str, done: int, total: int) -> None:
        """Record how far a running job is."""
        with self.db.connect() as con:
            con.execute(
                "UPDATE jobs SET step = ?, done = ?, total = ? WHERE id = ? AND state = 'running'",
                (step, int(done), int(total), job_id),
            )

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked to cancel the running job ``job_id``."""
        with self.db.connect() as con:
            row = con.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def finish(self, job_id: str, result: Mapping[str, Any]) -> None:
        """A running job is done with ``result``."""
        self._end(job_id, "done", result=dict(result))

    def fail(self, job_id: str, error: ErrorBody, state: str = "failed") -> None:
        """A running job failed (or, with ``state="cancelled"``, was stopped) with ``error``."""
        self._end(job_id, state, error=error)

    def _end(
        self, job_id: str, state: str, *, result: dict | None = None, error: ErrorBody | None = None
    ) -> None:
        with self.db.connect() as con:
            con.execute(
                "UPDATE jobs SET state = ?, finished = ?, result = ?, error = ? "
                "WHERE id = ? AND state = 'running'",
                (
                    state,
                    time.time(),
                    None if result is None else json.dumps(result, ensure_ascii=False),
                    None if error is None else json.dumps(error, ensure_ascii=False),
                    job_id,
                ),
            )

    def abandon_orphans(self, error: ErrorBody) -> int:
        """Fail the running jobs whose worker process is gone (a worker killed or the machine
        restarted): they would otherwise show ``running`` for ever. Returns how many."""
        with self.db.connect() as con:
            rows = con.execute("SELECT id, runner FROM jobs WHERE state = 'running'").fetchall()
            gone = [r["id"] for r in rows if not _alive(r["runner"])]
            for job_id in gone:
                con.execute(
                    "UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE id = ?",
                    (time.time(), json.dumps(error, ensure_ascii=False), job_id),
                )
        return len(gone)

    def queued(self) -> list[str]:
        """Ids of the queued jobs, oldest first (to put back on an emptied queue)."""
        with self.db.connect() as con:
            rows = con.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created")
            return [r["id"] for r in rows]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _retry_after(con: sqlite3.Connection, now: float) -> int:
    """Seconds until a queued job is likely to have started: the age of the oldest running
    job against its cap, at least 5 s and at most a minute."""
    row = con.execute(
        "SELECT min(started + cap) FROM jobs WHERE state = 'running' AND started IS NOT NULL"
    ).fetchone()
    ends = row[0]
    if ends is None:
        return 5
    return int(min(max(ends - now, 5), 60))
