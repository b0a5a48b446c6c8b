"""The jobs of one service: submitted by the web processes, run by the job workers.

Tour plans, coverage answers not cached yet and site suggestions cost seconds to minutes of
CPU each. They never run on the threads that answer ``/api/nearest`` and the pages: a
request submits a job (:meth:`Jobs.submit`) and is answered at once with where to follow it;
a worker process takes it from the queue and runs it under its cap
(:func:`geoservice.jobs.capped.run_capped`).

The queue is Huey's: its SQLite storage (``instance/jobs-queue.sqlite``) by default, which
needs no server, or Redis (``JOBS_BROKER = "redis://…"``) for several workers in
production. ``JOBS_MODE = "inline"`` runs each job in the submitting process at once, without
a queue or a cap: for the CLI and unit tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoservice.errors import error_body
from geoservice.jobs.board import Job, JobBoard, Limits
from geoservice.jobs.capped import Outcome, Progress, run_capped, run_inline
from geoservice.messages import message

__all__ = ["Jobs", "Kind", "make_queue"]

logger = logging.getLogger(__name__)

#: The name the job task is registered under with Huey (web and worker processes agree).
TASK_NAME = "geoservice.job"


@dataclass(frozen=True)
class Kind:
    """A kind of job.

    Attributes
    ----------
    name : str
        ``"tours"``, ``"coverage"``, ``"suggest"``.
    run : callable
        ``run(params, progress) -> result``: computes, saves what it made, and says where it
        is (``{"href": …}``).
    seconds : float
        The wall-clock cap of one job of this kind (``JOB_SECONDS_TOURS``, …).
    reusable : callable
        Whether a done job's result is still there (a plan kept a day, an answer in a
        bounded cache); if not, the same question makes a new job.
    """

    name: str
    run: Callable[[dict, Progress], dict]
    seconds: float
    reusable: Callable[[Job], bool] = lambda job: True


def make_queue(broker: str, folder: Path) -> Any:
    """The Huey queue of ``broker``: ``""`` for SQLite in ``folder``, else a Redis URL.

    Returns
    -------
    huey.Huey
        ``SqliteHuey`` or ``RedisHuey``; task results are not kept (the board has them).
    """
    from huey import RedisHuey, SqliteHuey

    if broker.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("geoservice", url=broker, results=False)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("geoservice", filename=str(folder / "jobs-queue.sqlite"), results=False)


class Jobs:
    """Submitting, running and cancelling jobs.

    Parameters
    ----------
    board : JobBoard
        The jobs' states.
    kinds : mapping
        Kind name → :class:`Kind`.
    queue : huey.Huey or None
        Where jobs wait for a worker (:func:`make_queue`); None runs each job inline.
    queue_max : int
        Most jobs waiting at once (``JOBS_QUEUE_MAX``); one more is a 503.
    per_client : int, optional
        Most jobs one client may have queued or running (``JOBS_PER_CLIENT``); one more is
        a 429. None: no bound.
    """

    def __init__(
        self,
        board: JobBoard,
        kinds: Mapping[str, Kind],
        queue: Any | None,
        queue_max: int,
        per_client: int | None = None,
    ) -> None:
        self.board = board
        self.kinds = dict(kinds)
        self.queue = queue
        self.queue_max = int(queue_max)
        self.per_client = per_client
        self._task = None if queue is None else queue.task(name=TASK_NAME, retries=0)(self.run)

    @property
    def inline(self) -> bool:
        """Whether jobs run in the submitting process (``JOBS_MODE=inline``)."""
        return self.queue is None

    def submit(
        self,
        kind: str,
        key: str,
        params: Mapping[str, Any],
        owner: str | None = None,
        client: str = "",
    ) -> Job:
        """The job that answers ``key``: an existing one (queued, running, or done with its
        result still there), or a new one put on the queue (inline: run now).

        Raises
        ------
        QueueFullError
            ``queue_max`` jobs are waiting.
        ClientJobsError
            ``client`` has ``per_client`` jobs queued or running.
        """
        spec = self.kinds[kind]
        job, new = self.board.submit(
            kind,
            key,
            params,
            owner=owner,
            client=client,
            limits=Limits(spec.seconds, self.queue_max, self.per_client),
            reusable=spec.reusable,
        )
        if not new:
            return job
        if self._task is None:
            self.run(job.id)
        else:
            self._task(job.id)
        return self.board.get(job.id)

    def run(self, job_id: str) -> None:
        """Run the queued job ``job_id`` to its end (what a worker does with a job it took)."""
        job = self.board.start(job_id)
        if job is None:  # cancelled while it waited
            return
        spec = self.kinds[job.kind]
        params = job.params

        def work(progress: Progress) -> dict:
            return spec.run(params, progress)

        def progress(step: str, done: int, total: int) -> None:
            self.board.progress(job_id, step, done, total)

        try:
            if self.inline:
                outcome = run_inline(work, progress)
            else:
                outcome = run_capped(
                    work, job.cap, progress, lambda: self.board.cancel_requested(job_id)
                )
        except Exception:  # the runner itself failed (no fork, no pipe): never leave it running
            logger.exception("job %s could not be run", job_id)
            outcome = Outcome("failed", error=error_body(500, *message("jobs.crashed")))
        if outcome.state == "done" and outcome.result is not None:
            self.board.finish(job_id, outcome.result)
        elif outcome.error is not None:
            self.board.fail(job_id, outcome.error, outcome.state)
        logger.info("job %s (%s) %s", job_id, job.kind, outcome.state)

    def cancel(self, job_id: str) -> Job:
        """Cancel ``job_id`` (see :meth:`JobBoard.request_cancel`)."""
        return self.board.request_cancel(job_id, error_body(410, *message("jobs.cancelled")))

    def recover(self) -> None:
        """At a worker's start: fail the jobs whose worker died, and put back on the queue
        the queued jobs it lost (a Redis flushed, a queue file removed)."""
        gone = self.board.abandon_orphans(error_body(500, *message("jobs.orphaned")))
        if gone:
            logger.warning("%d job(s) were running in a worker that stopped", gone)
        if self.queue is None or self._task is None:
            return
        waiting = {t.args[0] for t in self.queue.pending() if t.args}
        for job_id in self.board.queued():
            if job_id not in waiting:
                self._task(job_id)

    def work(self, workers: int = 1) -> None:
        """Take jobs from the queue until stopped (SIGTERM, SIGINT): ``workers`` processes,
        each running one job at a time in a capped child. Call it in a process that has the
        networks loaded: workers are forked from it and share them."""
        if self.queue is None:
            msg = "JOBS_MODE=inline has no queue to work on"
            raise RuntimeError(msg)
        self.recover()
        consumer = self.queue.create_consumer(
            workers=workers,
            worker_type="process",
            periodic=False,
            initial_delay=0.1,
            backoff=1.15,
            max_delay=0.5,
            check_worker_health=True,
        )
        consumer.run()
