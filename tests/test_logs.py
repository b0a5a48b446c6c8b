"""Request ids and the structured access lines: one per request, never the query."""

from __future__ import annotations

import json
import logging
import re

import pytest

from geoservice.web import logs


def test_every_answer_carries_a_request_id(client):
    r = client.get("/api/towns")
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"])
    assert client.get("/api/towns").headers["X-Request-Id"] != r.headers["X-Request-Id"]
    # A proxy's id is kept; a strange one is replaced.
    given = "caddy-5f2a9c1e-0001"
    assert client.get("/", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given
    for bad in ("x", "a b c d e f g h", "<script>alert(1)</script>", "z" * 65):
        got = client.get("/api/towns", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert got != bad
    # Errors too.
    assert client.get("/api/nope").headers["X-Request-Id"]


def test_one_access_line_per_request_without_the_query(client, caplog):
    caplog.set_level(logging.INFO, logger="geoservice.access")
    r = client.get("/api/nearest?lon=116.8330&lat=40.3720&mode=walk")
    (record,) = [rec for rec in caplog.records if rec.name == "geoservice.access"]
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == r.headers["X-Request-Id"]
    assert line["event"] == "request"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/nearest", 200)
    assert line["endpoint"] == "api.nearest"
    assert line["ms"] >= 0
    assert "116.83" not in json.dumps(line)  # where a worker stands is never logged
    assert "40.372" not in record.getMessage()


def test_app_log_records_name_their_request(app, caplog):
    @app.get("/_log_something")
    def _log_something():
        app.logger.warning("something happened")
        return "ok"

    caplog.set_level(logging.WARNING)
    r = app.test_client().get("/_log_something")
    (record,) = [rec for rec in caplog.records if rec.getMessage() == "something happened"]
    assert record.request_id == r.headers["X-Request-Id"]


def test_configure_writes_json_or_text(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("json")
        logging.getLogger("x").info("你好", extra={"fields": {"n": 1}})
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["message"], line["n"], line["level"]) == ("你好", 1, "INFO")
        logs.configure("text")
        logging.getLogger("x").info("plain")
        assert "plain" in capsys.readouterr().err
        with pytest.raises(ValueError, match="LOG_FORMAT"):
            logs.configure("xml")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_waitress_queue_warnings_are_thinned_out(capsys, monkeypatch):
    """waitress warns of its task queue on every request that waits for a thread: one
    line per 10 s gets through, saying how many were left out."""
    root = logging.getLogger()
    queue = logging.getLogger("waitress.queue")
    saved = root.handlers[:], root.level, queue.filters[:]
    clock = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    try:
        logs.configure("text")
        for depth in range(1, 6):
            queue.warning("Task queue depth is %d", depth)
            clock[0] += 1
        clock[0] += 10
        queue.warning("Task queue depth is %d", 9)
        lines = [ln for ln in capsys.readouterr().err.splitlines() if "queue depth" in ln]
        assert len(lines) == 2
        assert lines[0].endswith("Task queue depth is 1")
        assert lines[1].endswith("Task queue depth is 9 (and 4 more since the last such line)")
    finally:
        root.handlers[:], level, queue.filters[:] = saved
        root.setLevel(level)


def test_waitress_keeps_proxy_headers_only_when_the_app_trusts_a_proxy(tmp_path):
    from conftest import make_app

    from geoservice.web import serve

    for count, cleared in ((0, True), (1, False)):
        app = make_app(tmp_path / str(count), PROXY_COUNT=count)
        server = serve.create_server(app, host="127.0.0.1", port=0)
        try:
            assert server.adj.clear_untrusted_proxy_headers is cleared
        finally:
            server.close()
