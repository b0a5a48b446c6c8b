"""The back office's job queue (``/admin/jobs``): what waits and runs, what ended, cancel."""

from __future__ import annotations

import re

from conftest import login_as, make_app


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_admins_see_the_queue_and_cancel_a_job(tmp_path):
    app = make_app(tmp_path, JOBS_MODE="queue")  # no worker: jobs wait
    anonymous = app.test_client()
    queued = anonymous.get("/api/coverage?minutes=5").get_json()
    assert queued["state"] == "queued"
    client = app.test_client()
    login_as(app, client, "admin")
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "计算任务" in html
    assert "进行中（1）" in html
    assert queued["id"] in html
    assert "覆盖分析" in html
    assert "排队中（前面 0 个）" in html
    assert "匿名" in html
    assert "还没有结束的任务" in html
    # The cancel form: its CSRF token is needed.
    action = f"/admin/jobs/{queued['id']}/cancel"
    assert client.post(action).status_code == 400
    r = client.post(action, data={"csrf_token": _token(html)})
    assert r.status_code == 302
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert f"任务 {queued['id']}：已取消" in html
    assert "进行中（0）" in html
    assert "已取消：<bdi>任务已取消</bdi>" in html  # listed among the ended, with why
    assert anonymous.get(f"/api/jobs/{queued['id']}").get_json()["state"] == "cancelled"
    unknown = client.post("/admin/jobs/nope/cancel", data={"csrf_token": _token(html)})
    assert "找不到任务" in client.get(unknown.headers["Location"]).get_data(as_text=True)


def test_the_queue_is_for_admins(tmp_path):
    app = make_app(tmp_path)
    assert app.test_client().get("/admin/jobs").status_code == 302  # to the login
    client = app.test_client()
    login_as(app, client, "editor")
    assert client.get("/admin/jobs").status_code == 403
    assert "计算任务" not in client.get("/admin/stations").get_data(as_text=True)
