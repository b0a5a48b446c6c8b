"""Every error answer: one JSON body under /api, the HTML page elsewhere, the same messages.

Through the test client (what Flask answers) and through a real waitress server on a free
loopback port (what waitress answers itself: requests it cannot parse or that exceed its
limits), with raw sockets so that bytes go out exactly as written.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import pytest
from conftest import (
    GRID_STATIONS,
    assert_bilingual_error,
    assert_refused,
    make_app,
    plan_tour,
    stations_frame,
)
from werkzeug.exceptions import default_exceptions

from geoservice import params
from geoservice.errors import NetworkError, QueueFullError, StoreError
from geoservice.messages import MESSAGES, message, status_message
from geoservice.web import serve
from geoservice.web.http_errors import MAX_HEADER_BYTES, MAX_TARGET_BYTES

# -- ids with control characters ---------------------------------------------------------------

#: Escapes of characters no id holds: NUL, a C0 control, DEL, a C1 control (NEL, in UTF-8).
CONTROLS = ["%00", "%01", "%7f", "%c2%85"]


@pytest.fixture(scope="module")
def tour_app(tmp_path_factory):
    """A grid app (rate limits off, a short tour search) with one saved plan."""
    tmp = tmp_path_factory.mktemp("errors")
    app = make_app(
        tmp, stations=stations_frame(GRID_STATIONS), RATELIMIT_ENABLED=False, TOURS_ITERATIONS=50
    )
    saved = plan_tour(app.test_client(), {"depot": "T00", "stops": ["T01", "T02"]})
    assert saved.status_code == 200, saved.get_json()
    app.config["SAVED_TOUR"] = saved.get_json()["id"]
    return app


@pytest.fixture(scope="module")
def tour_client(tour_app):
    return tour_app.test_client()


@pytest.mark.parametrize("control", CONTROLS)
def test_station_ids_with_control_characters_are_refused(tour_client, control):
    assert tour_client.get("/api/stations/T01").status_code == 200
    for path in (f"/api/stations/T01{control}", f"/api/stations/{control}T01"):
        body = assert_bilingual_error(tour_client.get(path), 400, "station_id")
        assert "控制字符" in body["message_zh"]
        assert "control characters" in body["message_en"]


@pytest.mark.parametrize("control", CONTROLS)
def test_tour_ids_with_control_characters_are_refused(tour_app, tour_client, control):
    plan = tour_app.config["SAVED_TOUR"]
    assert tour_client.get(f"/api/tours/{plan}").status_code == 200
    for path in (f"/api/tours/{plan}{control}", f"/api/tours/{plan}{control}.gpx"):
        assert_bilingual_error(tour_client.get(path), 400, "tour_id")


def test_the_trailing_nul_no_longer_finds_the_station(tour_app):
    """pandas compares a str column with a scalar through numpy, which drops trailing NULs:
    the store lookup itself is exact too, whatever reaches it."""
    from geoservice.store import catalog
    from geoservice.web import get_store

    with tour_app.app_context():
        store = get_store()
        assert catalog.station_feature(store, "T01")["id"] == "T01"
        with pytest.raises(ValueError, match="T01"):
            catalog.station_feature(store, "T01\x00")


def test_the_id_reader():
    for raw in ("T01", "WS-001", "密云 1号", " T01", "x" * 5000):
        assert params.identifier(raw, "station_id") == raw  # exact, nothing stripped
    for raw in ("T01\x00", "\x1b[2J", "a\tb", "a\nb", "\x7f", "\x85", "\x9f", "a\ud800"):
        err = assert_refused(params.identifier, raw, "station_id", parameter="station_id")
        assert len(err.en) < 200
    assert_refused(params.identifier, "", "tour_id", parameter="tour_id")
    assert_refused(params.identifier, None, "tour_id", parameter="tour_id")
    assert_refused(params.identifier, 7, "tour_id", parameter="tour_id")


# -- one body under /api, the page elsewhere ----------------------------------------------------

#: The statuses of the message table, raised by a test route as Werkzeug's exceptions.
STATUSES = [400, 403, 404, 405, 406, 408, 413, 414, 415, 429, 431, 500, 501, 503]
#: The service's own 503s, by the exception the test route raises.
FAILURES = {
    "network": (NetworkError("no roads"), "network.unavailable"),
    "store": (StoreError("/srv/secret/tours: disk full"), "store.unavailable"),
    "jobs": (QueueFullError(7), "jobs.full"),
}


@pytest.fixture
def raising_app(tmp_path):
    """An app with routes that raise any HTTP error or service failure, under /api and not,
    and that fail with a secret in the exception."""
    app = make_app(tmp_path, RATELIMIT_ENABLED=False, MAX_CONTENT_LENGTH=4096)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def raise_status(code: int):
        raise default_exceptions[code]

    def fail(kind: str):
        raise FAILURES[kind][0]

    def boom():
        msg = "secret detail /srv/geoservice/live.gpkg"
        raise RuntimeError(msg)

    for prefix in ("/api", ""):
        app.add_url_rule(f"{prefix}/_raise/<int:code>", f"raise{prefix}", raise_status)
        app.add_url_rule(f"{prefix}/_fail/<kind>", f"fail{prefix}", fail)
        app.add_url_rule(f"{prefix}/_boom", f"boom{prefix}", boom)
    return app


def _expected(code: int) -> tuple[str, str]:
    """The table's message for a status, with the limit where the answer names one."""
    limits = {413: 4096, 414: MAX_TARGET_BYTES, 431: MAX_HEADER_BYTES}
    if code in limits:
        return message(f"http.{code}.limit", limit=limits[code])
    return status_message(code)


def test_the_table_has_every_status_in_chinese_and_english():
    for code in STATUSES:
        assert f"http.{code}" in MESSAGES, code
    for key, (zh, en) in MESSAGES.items():
        assert re.search(r"[\u4e00-\u9fff]", zh), key
        assert en
        assert not re.search(r"[\u4e00-\u9fff]", en), key
    assert status_message(418) == MESSAGES["http.other"]
    assert message("http.413.limit", limit=2048) == (
        "请求内容过大（上限 2,048 字节）",
        "request body too large (limit 2,048 bytes)",
    )


@pytest.mark.parametrize("code", STATUSES)
def test_every_status_under_api_has_the_one_body(raising_app, code):
    client = raising_app.test_client()
    parameter = "body" if code in (413, 415) else None
    body = assert_bilingual_error(client.get(f"/api/_raise/{code}"), code, parameter)
    assert (body["message_zh"], body["message_en"]) == _expected(code)


@pytest.mark.parametrize("code", STATUSES)
def test_every_status_elsewhere_is_the_page_with_the_same_message(raising_app, code):
    r = raising_app.test_client().get(f"/_raise/{code}")
    assert r.status_code == code
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    zh, en = _expected(code)
    assert f"<h1>{zh}</h1>" in html
    assert f'<p lang="en">{en}</p>' in html
    assert "nonce-" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_the_service_unavailable_answers(raising_app, kind):
    client = raising_app.test_client()
    exc, key = FAILURES[kind]
    r = client.get(f"/api/_fail/{kind}")
    body = assert_bilingual_error(r, 503, None)
    zh, en = message(key, detail=exc)
    assert (body["message_zh"], body["message_en"]) == (zh, en)
    assert "secret" not in r.get_data(as_text=True)
    if kind == "jobs":
        assert r.headers["Retry-After"] == "7"
    page = client.get(f"/_fail/{kind}")
    assert (page.status_code, page.mimetype) == (503, "text/html")
    assert zh in page.get_data(as_text=True)


def test_routing_errors_have_the_one_body(client):
    for path in ("/api", "/api/", "/api/nope", "/api/station", "/api/%E4%B8%8D"):
        body = assert_bilingual_error(client.get(path), 404, None)
        assert (body["message_zh"], body["message_en"]) == status_message(404)
    for method, path in (("put", "/api/stations"), ("delete", "/api/tours"), ("put", "/api")):
        r = getattr(client, method)(path)
        if path == "/api":
            assert_bilingual_error(r, 404, None)
            continue
        body = assert_bilingual_error(r, 405, None)
        assert (body["message_zh"], body["message_en"]) == status_message(405)
        assert "GET" in r.headers["Allow"]
    r = client.post("/")
    assert (r.status_code, r.mimetype) == (405, "text/html")
    assert "GET" in r.headers["Allow"]


def test_a_500_hides_its_details(raising_app, caplog):
    client = raising_app.test_client()
    r = client.get("/api/_boom")
    body = assert_bilingual_error(r, 500, None)
    assert (body["message_zh"], body["message_en"]) == status_message(500)
    page = client.get("/_boom")
    assert (page.status_code, page.mimetype) == (500, "text/html")
    for answer in (r, page):
        text = answer.get_data(as_text=True)
        assert "secret" not in text
        assert "/srv/" not in text
        assert "Traceback" not in text
        assert "RuntimeError" not in text
    assert "secret detail" in caplog.text  # logged for the operator


def test_413_names_the_limit_and_the_body(raising_app):
    r = raising_app.test_client().post("/api/tours", data=b"x" * 5000, content_type="text/plain")
    body = assert_bilingual_error(r, 413, "body")
    assert "4,096" in body["message_zh"]
    assert "4,096" in body["message_en"]


def test_415_names_the_body(client):
    r = client.post("/api/tours", data=b"{}", content_type="text/plain")
    assert_bilingual_error(r, 415, "body")


def test_429_keeps_retry_after_and_the_rate_limit_headers(tmp_path):
    client = make_app(tmp_path, RATELIMIT_NEAREST="1 per minute").test_client()
    assert client.get("/api/nearest").status_code == 400  # counted, although refused
    r = client.get("/api/nearest")
    body = assert_bilingual_error(r, 429, None)
    assert "1 per 1 minute" in body["message_en"]
    assert int(r.headers["Retry-After"]) > 0
    assert r.headers["X-RateLimit-Limit"] == "1"
    assert r.headers["X-RateLimit-Remaining"] == "0"


def test_the_app_checks_the_target_and_header_limits(client):
    """The test client and the development server answer 414 and 431 as waitress does."""
    long_query = "x=" + "a" * MAX_TARGET_BYTES
    body = assert_bilingual_error(client.get(f"/api/towns?{long_query}"), 414, None)
    assert (body["message_zh"], body["message_en"]) == _expected(414)
    assert client.get(f"/api/towns?x={'a' * (MAX_TARGET_BYTES - 20)}").status_code == 200
    # Non-ASCII counts percent-encoded: 3 bytes per UTF-8 byte.
    wide = "镇" * (MAX_TARGET_BYTES // 9 + 1)
    assert_bilingual_error(client.get(f"/api/towns?x={wide}"), 414, None)
    big = {"X-Big": "a" * MAX_HEADER_BYTES}
    body = assert_bilingual_error(client.get("/api/towns", headers=big), 431, None)
    assert (body["message_zh"], body["message_en"]) == _expected(431)
    r = client.get("/", headers=big)
    assert (r.status_code, r.mimetype) == (431, "text/html")
    assert client.get("/api/towns", headers={"X-Big": "a" * 60_000}).status_code == 200


# -- through a real waitress server -------------------------------------------------------------


@contextmanager
def waitress_serving(app) -> Iterator[int]:
    """Serve ``app`` with geoservice.web.serve on a free loopback port in a thread; yield
    the port."""
    server = serve.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=10)


class _Received:
    """What http.client needs of a socket to parse an answer already read."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def makefile(self, *args, **kwargs):
        return self._file


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)


def send(port: int, request: bytes) -> Answer:
    """Send ``request`` byte for byte on a new connection; read the answer until the server
    closes it (a server refusing a request before reading all of it may reset the
    connection once it has answered)."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        with suppress(OSError):  # the server answered and closed before reading it all
            sock.sendall(request)
        with suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    response = http.client.HTTPResponse(_Received(data))  # type: ignore[arg-type]
    response.begin()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, headers, response.read())


def get(target: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    """A request for ``target``, written as is, with ``headers`` lines."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: localhost", *headers]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


@pytest.fixture(scope="module")
def served(tour_app):
    """The tour app (MAX_CONTENT_LENGTH 4096) served by waitress: (port, test client)."""
    tour_app.config["MAX_CONTENT_LENGTH"] = 4096
    with waitress_serving(tour_app) as port:
        yield port, tour_app.test_client()
    tour_app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024


def assert_one_body(answer: Answer, status: int, parameter: str | None = None) -> dict:
    """The one error body from waitress, with the app's security headers."""
    assert answer.status == status, answer.body[:300]
    body = answer.json
    assert set(body) == {"error", "message", "message_zh", "message_en", "parameter", "status"}
    assert body["message"] == body["message_zh"]
    assert (body["status"], body["parameter"]) == (status, parameter)
    assert re.search(r"[\u4e00-\u9fff]", body["message_zh"])
    assert body["error"] == f"{body['message_zh']} / {body['message_en']}"
    assert answer.headers["x-content-type-options"] == "nosniff"
    return body


def test_a_raw_utf8_query_is_read_as_the_escaped_one(served):
    port, client = served
    raw = send(port, get("/api/sites?town=溪翁庄镇".encode()))
    escaped = send(port, get(b"/api/sites?town=%E6%BA%AA%E7%BF%81%E5%BA%84%E9%95%87"))
    assert raw.status == escaped.status == 200
    assert raw.json == escaped.json == client.get("/api/sites?town=溪翁庄镇").get_json()
    assert raw.json["count"] > 0
    # Refused values are quoted back the same way too, in a path as in a query.
    raw = send(port, get("/api/sites?town=不是乡镇".encode()))
    assert assert_one_body(raw, 400, "town") == client.get("/api/sites?town=不是乡镇").get_json()
    raw = send(port, get("/api/stations/不存在".encode()))
    body = assert_one_body(raw, 404, "station_id")
    assert "'不存在'" in body["message_zh"]


def test_raw_control_characters_in_a_path_id_are_refused(served):
    port, _ = served
    for raw in (b"T01\x00", b"T\x0101", b"T01\x7f", b"T01\xc2\x85", b"T\t01"):
        assert_one_body(send(port, get(b"/api/stations/" + raw)), 400, "station_id")
    for escaped in CONTROLS:
        answer = send(port, get(f"/api/stations/T01{escaped}".encode()))
        assert_one_body(answer, 400, "station_id")


def test_an_oversized_header_is_a_431_in_the_one_body(served):
    port, client = served
    big = b"X-Big: " + b"a" * MAX_HEADER_BYTES
    answer = send(port, get(b"/api/towns", big))
    body = assert_one_body(answer, 431)
    assert (body["message_zh"], body["message_en"]) == _expected(431)
    assert body == client.get("/api/towns", headers={"X-Big": "a" * MAX_HEADER_BYTES}).get_json()
    # Just under the limit: served.
    assert send(port, get(b"/api/towns", b"X-Big: " + b"a" * 60_000)).status == 200
    # Far over it, refused while it arrives: the same answer.
    answer = send(port, get(b"/api/towns", b"X-Big: " + b"a" * (4 * MAX_HEADER_BYTES)))
    assert assert_one_body(answer, 431) == body


def test_an_overlong_request_line_is_a_414_in_the_one_body(served):
    port, client = served
    target = b"/api/towns?x=" + b"a" * MAX_TARGET_BYTES
    body = assert_one_body(send(port, get(target)), 414)
    assert (body["message_zh"], body["message_en"]) == _expected(414)
    assert body == client.get(target.decode()).get_json()
    # Counted percent-encoded, as the app counts it.
    wide = ("镇" * (MAX_TARGET_BYTES // 9 + 1)).encode()
    assert assert_one_body(send(port, get(b"/api/towns?x=" + wide)), 414) == body
    # Far over it, refused before the line ends.
    answer = send(port, get(b"/api/towns?x=" + b"a" * (4 * MAX_TARGET_BYTES)))
    assert assert_one_body(answer, 414) == body


def test_waitress_refusals_of_a_page_are_the_html_page(served):
    port, _ = served
    for request, status in (
        (get(b"/?x=" + b"a" * MAX_TARGET_BYTES), 414),
        (get(b"/nearest", b"X-Big: " + b"a" * MAX_HEADER_BYTES), 431),
        (get(b"/nearest", b"Bad header line"), 400),
    ):
        answer = send(port, request)
        assert answer.status == status
        assert answer.headers["content-type"].startswith("text/html")
        html = answer.body.decode()
        assert f"<h1>{_expected(status)[0]}</h1>" in html
        assert "nonce-" in answer.headers["content-security-policy"]


def test_what_waitress_refuses_itself_has_the_one_body(served):
    port, client = served
    body = assert_one_body(send(port, get(b"/api/towns", b"Bad header line")), 400)
    assert (body["message_zh"], body["message_en"]) == status_message(400)
    json_head = (b"Content-Type: application/json",)
    # A body over MAX_CONTENT_LENGTH: refused from its Content-Length, as the app does.
    answer = send(port, get(b"/api/tours", *json_head, b"Content-Length: 5000", method=b"POST"))
    body = assert_one_body(answer, 413, "body")
    assert body == client.post("/api/tours", data=b"x" * 5000, content_type="application/json").json
    chunked = (*json_head, b"Transfer-Encoding: chunked")
    answer = send(port, get(b"/api/tours", *chunked, method=b"POST") + b"zz\r\n\r\n")
    assert_one_body(answer, 400)
    answer = send(port, get(b"/api/tours", b"Transfer-Encoding: gzip", method=b"POST"))
    body = assert_one_body(answer, 501)
    assert (body["message_zh"], body["message_en"]) == status_message(501)
    # The app's own answers through waitress are unchanged.
    body = assert_one_body(send(port, get(b"/api/nope")), 404)
    assert body == client.get("/api/nope").get_json()
    answer = send(port, get(b"/api/stations", method=b"PUT"))
    assert_one_body(answer, 405)
    assert "GET" in answer.headers["allow"]


@pytest.mark.slow
def test_an_app_failing_outside_flask_is_a_generic_500(tmp_path):
    """waitress's own 500 (the WSGI app raising) is the one body too, without the detail."""

    def broken(environ, start_response):
        msg = "secret detail /srv/geoservice"
        raise RuntimeError(msg)

    app = make_app(tmp_path)
    app.wsgi_app = broken  # type: ignore[method-assign]
    with waitress_serving(app) as port:
        answer = send(port, get(b"/api/towns"))
    body = assert_one_body(answer, 500)
    assert (body["message_zh"], body["message_en"]) == status_message(500)
    assert b"secret" not in answer.body
