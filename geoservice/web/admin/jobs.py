"""Back office part: the job queue (``/admin/jobs``, admins only).

What the job workers are doing and what waits for them: the queued and running jobs (kind,
who asked, progress, seconds against the cap) and the most recent finished ones with how
they ended, so that staff can tell why the service says "the queue is full" and stop a job
that should not run (a cancel is what ``DELETE /api/jobs/<id>`` does: a queued job at once,
a running one within a second).
"""

from __future__ import annotations

from flask import Response, flash, redirect, url_for

from geoservice.errors import JobNotFoundError
from geoservice.jobs.board import ACTIVE, FINISHED
from geoservice.web.admin import admin_required, bp, page
from geoservice.web.jobs import get_jobs

#: Finished jobs the page lists (newest first).
RECENT = 50
KIND_LABELS = {"tours": "巡回路线", "coverage": "覆盖分析", "suggest": "选址建议"}
STEP_LABELS = {"matrix": "车程矩阵", "solve": "搜索路线", "schedule": "排日程", "areas": "覆盖范围"}
STATE_LABELS = {
    "queued": "排队中",
    "running": "计算中",
    "done": "完成",
    "failed": "失败",
    "cancelled": "已取消",
}


@bp.get("/jobs")
@admin_required
def jobs() -> Response:
    """The queue: active jobs, then the recent finished ones."""
    board = get_jobs().board
    active = board.recent(ACTIVE, limit=1000)
    return page(
        "admin/jobs.html",
        section="jobs",
        active=[j.to_dict(board.position(j) if j.state == "queued" else None) for j in active],
        owners={j.id: j.owner for j in active},
        finished=[j.to_dict() for j in board.recent(FINISHED, limit=RECENT)],
        kinds=KIND_LABELS,
        states=STATE_LABELS,
        steps=STEP_LABELS,
        queue_max=get_jobs().queue_max,
    )


@bp.post("/jobs/<job_id>/cancel")
@admin_required
def job_cancel(job_id: str) -> Response:
    """Cancel a job (the form's CSRF token checked by Flask-WTF)."""
    try:
        job = get_jobs().cancel(job_id)
    except JobNotFoundError as exc:
        flash(exc.zh, "error")
    else:
        said = "已取消" if job.state == "cancelled" else "正在停止"
        flash(f"任务 {job.id}：{said}", "ok")
    return redirect(url_for("admin.jobs"))  # type: ignore[return-value]
