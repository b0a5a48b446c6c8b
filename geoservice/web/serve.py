"""Serving the app with waitress: the answers waitress writes itself are the app's, its limits
the app's, and a raw UTF-8 request target is read like the percent-encoded one.

waitress answers some requests without calling the app: a request line or header it cannot
parse (400), header fields over its limit (431), a body over its limit (413), a transfer
coding it does not know (501), garbled chunked encoding (400), an app that fails before
answering (500). It writes them as English plain text, and it refuses a raw UTF-8 request
target (``curl '…/api/sites?town=溪翁庄镇'`` sends the bytes unescaped) as a "Bad URI".
Served with :func:`serve` (``python app.py``):

* the request target's raw non-ASCII and control bytes are percent-encoded before waitress
  parses it (:func:`~geoservice.web.http_errors.escape_target`), so the app reads
  ``?town=溪翁庄镇`` exactly as ``?town=%E6%BA%AA…``;
* waitress's limits are the app's, checked as the app checks them: the request target
  (414 beyond :data:`~geoservice.web.http_errors.MAX_TARGET_BYTES`), the header fields (431
  beyond :data:`~geoservice.web.http_errors.MAX_HEADER_BYTES`) and the body (413 beyond
  ``MAX_CONTENT_LENGTH``);
* every answer waitress writes itself is the one the app gives for that status
  (:func:`~geoservice.web.http_errors.status_answer`): the JSON error body for a path under
  ``/api`` (or a request whose target could not be read), the HTML error page otherwise,
  with the security headers.

How it hooks in (waitress 3.0): ``waitress.create_server`` makes one server per listening
socket; a server makes an ``HTTPChannel`` per connection from its ``channel_class``; the
channel reads each request with its ``parser_class`` and answers a request its parser
refused (``request.error``) with its ``error_task_class``. :func:`create_server` gives the
servers a `Channel` subclass bound to the app, whose `Parser` and `ErrorTask` do the above.
Nothing in waitress is patched.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import unquote

import waitress
from flask import Flask
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask as WaitressErrorTask
from waitress.utilities import BadRequest, RequestHeaderFieldsTooLarge

from geoservice.errors import error_body
from geoservice.messages import status_message
from geoservice.web import logs
from geoservice.web.http_errors import (
    MAX_HEADER_BYTES,
    MAX_TARGET_BYTES,
    escape_target,
    header_bytes,
    is_api_path,
    status_answer,
)

__all__ = ["Channel", "ErrorTask", "Parser", "URITooLong", "create_server", "serve"]

logger = logging.getLogger(__name__)

#: Room for the method, the version and the line ends in waitress's raw count of a request's
#: head while it arrives (its stop-gap; the exact limits are checked once the head is read).
_HEAD_SLACK = 4096
# The scheme and authority of an absolute-form target (``http://host:port/path``).
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


class URITooLong(BadRequest):
    """waitress's error for a request target over the limit (414)."""

    code = 414
    reason = "URI Too Long"


def _target(request_line: bytes) -> bytes:
    """The request target of a (maybe unfinished) request line: what follows the method."""
    return request_line.partition(b" ")[2].partition(b" ")[0]


class Parser(HTTPRequestParser):
    """waitress's request parser with the target escaped and the app's limits applied.

    Attributes
    ----------
    target : bytes
        The request target, escaped; ``b""`` until it is read. It tells a refused API
        request from a page's.
    refusal : waitress.utilities.Error or None
        A limit the request exceeds, found while its head was parsed; it wins over anything
        else the parser concludes.
    """

    target = b""
    refusal: Any = None

    def parse_header(self, header_plus: bytes) -> None:
        line, crlf, fields = header_plus.partition(b"\r\n")
        method, space, rest = line.partition(b" ")
        target, space2, version = rest.partition(b" ")
        self.target = escape_target(target)
        if len(self.target) > MAX_TARGET_BYTES:
            self.refusal = URITooLong(f"exceeds the limit of {MAX_TARGET_BYTES} bytes")
        super().parse_header(method + space + self.target + space2 + version + crlf + fields)
        if self.refusal is None and header_bytes(self.headers.items()) > MAX_HEADER_BYTES:
            msg = f"exceeds the limit of {MAX_HEADER_BYTES} bytes"
            self.refusal = RequestHeaderFieldsTooLarge(msg)

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.refusal is not None:
            # Complete now: the body of a refused request is not read.
            self.error, self.completed = self.refusal, True
        elif isinstance(self.error, RequestHeaderFieldsTooLarge) and not self.headers_finished:
            # waitress's stop-gap refused the head while it was arriving (and parsed a
            # stand-in "GET /"): keep the real target, and a request line that has not ended
            # yet is a target too long.
            line, crlf, _ = (self.header_plus + data).lstrip().partition(b"\r\n")
            self.target = escape_target(_target(line))
            if not crlf:
                self.error = URITooLong(f"exceeds the limit of {MAX_TARGET_BYTES} bytes")
        return consumed


def _is_api(target: bytes) -> bool:
    """Whether a refused request was for the API (or its target is unknown)."""
    if not target:
        return True
    path = _AUTHORITY.sub("", target.decode("latin-1")).partition("?")[0].partition("#")[0]
    return is_api_path(unquote(path))


def refusal_answer(
    app: Flask, code: int, target: bytes
) -> tuple[str, list[tuple[str, str]], bytes]:
    """waitress's answer to a request it refused: the app's answer for that status.

    Parameters
    ----------
    app
        The app served.
    code
        The status waitress refuses the request with.
    target
        The request target as far as it was read (``b""`` when unknown).

    Returns
    -------
    tuple
        Status line, headers (without ``Content-Length`` and ``Connection``, which waitress
        writes) and body.
    """
    try:
        response = status_answer(app, code, api=_is_api(target))
        skip = ("content-length", "connection")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in skip]
        return response.status, headers, response.get_data()
    except Exception:  # the answer to an error must not fail: the body without the app
        logger.exception("cannot render the answer to a refused request (%s)", code)
        zh, en = status_message(code)
        body = json.dumps(error_body(code, zh, en), ensure_ascii=False).encode()
        return f"{code} {en}", [("Content-Type", "application/json")], body


class ErrorTask(WaitressErrorTask):
    """waitress's answer to a refused request, written by the app (see :func:`refusal_answer`)."""

    def execute(self) -> None:
        status, headers, body = refusal_answer(
            self.channel.app, self.request.error.code, getattr(self.request, "target", b"")
        )
        self.status = status
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class Channel(HTTPChannel):
    """waitress's connection with `Parser` and `ErrorTask`; :func:`create_server` binds a
    subclass to the app (``app``)."""

    parser_class = Parser
    error_task_class = ErrorTask
    app: Flask


def create_server(app: Flask, **options: Any) -> Any:
    """A waitress server of ``app`` with the app's limits and error answers (not running yet).

    Parameters
    ----------
    app
        The app.
    **options
        waitress's settings (``host``, ``port``, ``threads``, …); they win over the limits
        set here (``max_request_header_size``, ``max_request_body_size``).

    Returns
    -------
    waitress.server.BaseWSGIServer or waitress.server.MultiSocketServer
        What ``waitress.create_server`` returns: ``run()`` serves, ``close()`` stops.
    """
    limits: dict[str, Any] = {
        # A stop-gap while a head arrives: Parser checks the exact limits once it is read.
        "max_request_header_size": MAX_TARGET_BYTES + MAX_HEADER_BYTES + _HEAD_SLACK,
    }
    body_limit = app.config.get("MAX_CONTENT_LENGTH")
    if body_limit:
        # waitress refuses a body of max_request_body_size bytes; Werkzeug one over its limit.
        limits["max_request_body_size"] = body_limit + 1
    if app.config.get("PROXY_COUNT"):
        # The app trusts that many proxies' X-Forwarded-* headers (werkzeug's ProxyFix, set
        # up in web/auth.py); waitress would otherwise strip them before the app sees them.
        limits["clear_untrusted_proxy_headers"] = False
    sockets: dict = {}
    server = waitress.create_server(app, map=sockets, **{**limits, **options})
    channel = type("Channel", (Channel,), {"app": app})
    for dispatcher in list(sockets.values()):
        if isinstance(dispatcher, BaseWSGIServer):  # (the map also holds waitress's trigger)
            dispatcher.channel_class = channel
    return server


def serve(app: Flask, **options: Any) -> None:
    """Serve ``app`` with waitress until interrupted (as ``waitress.serve``, through
    :func:`create_server`)."""
    # Every record, waitress's own too, with the request id, as LOG_FORMAT says.
    logs.configure(app.config.get("LOG_FORMAT", "json"))
    server = create_server(app, **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
