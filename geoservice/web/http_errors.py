"""Every error answer of the app, in one place: one JSON body under ``/api``, a page elsewhere.

Under ``/api`` (and ``/api`` itself) every error is answered with the one body of
:func:`geoservice.errors.error_body`, ``{"error": "中文 / English", "message_zh",
"message_en", "parameter", "status"}``; any other path gets the bilingual HTML page
``templates/error.html`` with the same messages. The fixed messages come from the table of
:mod:`geoservice.messages`. Handled here, app-wide (so routing errors, which never reach a
blueprint's handlers, are included):

* :class:`~geoservice.errors.ParameterError` → its status (400/404/413/415/422; a
  :class:`~geoservice.errors.TourError` adds ``stops`` and ``days_needed``);
* a road network that cannot be loaded, a store that cannot be read or written, a full
  job queue (with ``Retry-After``) → 503;
* every HTTP error, Werkzeug's or the rate limiter's: routing 404 and 405 (with ``Allow``),
  413 with the limit (``parameter: "body"``), 414 and 431 with the limits below, 415, 429
  (``Retry-After`` and the ``X-RateLimit-*`` headers kept), …;
* 500, for every path, with a generic message: the traceback goes to the log (Flask logs it
  before calling the handler), never to the client.

The request target and header limits (`MAX_TARGET_BYTES`, `MAX_HEADER_BYTES`) are checked
before a request is dispatched, so that the test client and the development server answer
414 and 431 as waitress does (:mod:`geoservice.web.serve` gives waitress the same limits,
and answers what it refuses itself with :func:`status_answer`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
    default_exceptions,
)

from geoservice.errors import (
    ClientJobsError,
    NetworkError,
    NetworkLoadingError,
    OsmError,
    ParameterError,
    QueueFullError,
    StoreError,
    error_body,
)
from geoservice.messages import message, status_message
from geoservice.web.i18n import current_lang

if TYPE_CHECKING:
    from geoservice.responses import ErrorBody

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_TARGET_BYTES",
    "answer",
    "escape_target",
    "header_bytes",
    "init_app",
    "is_api_path",
    "status_answer",
    "target_bytes",
]

#: Longest request target (path and query, percent-encoded) in bytes: 414 beyond. The
#: longest real query (every town, kind and amenity by its Chinese name) is about 2 KB.
MAX_TARGET_BYTES = 32 * 1024
#: Most bytes of header fields (``Name: value`` lines): 431 beyond. The service sets no
#: cookies; browsers send well under 4 KB.
MAX_HEADER_BYTES = 64 * 1024

# Bytes a request target may not hold as they are: controls (but CR and LF, which the server
# must refuse, not carry on), DEL and every non-ASCII byte (raw UTF-8 as curl sends it).
_UNSAFE_TARGET_BYTES = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\xff]")


#: The paths answered by machines: the JSON API and the OGC API (QGIS, OWSLib read JSON).
_API_PREFIXES = ("/api", "/ogc")


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to a JSON API (``/api``, ``/ogc`` and everything under them)."""
    return any(path == p or path.startswith(p + "/") for p in _API_PREFIXES)


def escape_target(raw: bytes) -> bytes:
    """A request target with its raw non-ASCII and control bytes percent-encoded.

    ``/api/sites?town=溪翁庄镇`` sent as raw UTF-8 becomes the
    ``/api/sites?town=%E6%BA%AA…`` a browser sends, which means the same; CR and LF are left
    for the server to refuse.
    """
    return _UNSAFE_TARGET_BYTES.sub(lambda m: b"%%%02X" % m[0][0], raw)


def target_bytes(environ: Mapping[str, object]) -> int:
    """Length in bytes of a WSGI request's target as checked against `MAX_TARGET_BYTES`
    (percent-encoded, as :func:`escape_target` writes it)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not isinstance(raw, str):  # a server that does not say: rebuild it
        path = quote(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
        query = str(environ.get("QUERY_STRING", ""))
        raw = f"{path}?{query}" if query else path
    # WSGI strings hold bytes as latin-1 characters.
    return len(escape_target(raw.encode("latin-1", "replace")))


def header_bytes(fields: Iterable[tuple[str, str]]) -> int:
    """Bytes of header fields as sent (``Name: value`` and CRLF each), as checked against
    `MAX_HEADER_BYTES`."""
    return sum(len(name) + len(value) + 4 for name, value in fields)


def answer(body: ErrorBody, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """The error answer to the current request.

    Parameters
    ----------
    body
        The error body (:func:`~geoservice.errors.error_body`, or an error's ``to_dict``).
    headers
        Headers to send with it (``Allow``, ``Retry-After``).

    Returns
    -------
    Response
        The body as JSON for a path under ``/api``, otherwise the HTML error page with the
        same messages; with the body's status.
    """
    status = body["status"]
    # In the request's language (error_body builds it; a subclass body keeps its extras).
    lang = current_lang()
    body = {
        **body,
        **error_body(status, body["message_zh"], body["message_en"], body["parameter"], lang=lang),
    }
    if is_api_path(request.path):
        response = jsonify(body)
    else:
        page = render_template(
            "error.html",
            code=status,
            first=body["message_en"] if lang == "en" else body["message_zh"],
            second=body["message_zh"] if lang == "en" else body["message_en"],
        )
        response = Response(page, mimetype="text/html")
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    return response


def _parameter_error(exc: ParameterError) -> Response:
    # A 401 names the scheme the write API accepts (RFC 6750).
    headers = [("WWW-Authenticate", 'Bearer realm="geoservice"')] if exc.status == 401 else []
    return answer(exc.to_dict(), headers)


def _network_loading(exc: NetworkLoadingError) -> Response:
    # Answered at once, never waited for: the build goes on in the background.
    body = error_body(503, *message("network.loading"))
    return answer(body, [("Retry-After", str(exc.retry_after))])


def _network_unavailable(exc: NetworkError | OsmError) -> Response:
    # The service still answers everything else; routing needs a usable network.
    return answer(error_body(503, *message("network.unavailable", detail=exc)))


def _store_unavailable(exc: StoreError) -> Response:
    # A plan that cannot be saved (disk full, permissions): the detail names files, so it
    # goes to the log only.
    current_app.logger.error("store error: %s", exc)
    return answer(error_body(503, *message("store.unavailable")))


def _client_jobs(exc: ClientJobsError) -> Response:
    return answer(error_body(429, exc.zh, exc.en), [("Retry-After", str(exc.retry_after))])


def _queue_full(exc: QueueFullError) -> Response:
    return answer(error_body(503, exc.zh, exc.en), [("Retry-After", str(exc.retry_after))])


def _reason(exc: HTTPException, code: int) -> tuple[str, str]:
    """The message of an HTTP error: with the limit exceeded, where there is one."""
    limit: object = None
    if code == 413:
        limit = request.max_content_length
    elif code == 414:
        limit = MAX_TARGET_BYTES
    elif code == 431:
        limit = MAX_HEADER_BYTES
    elif code == 429 and isinstance(exc, RateLimitExceeded):
        limit = exc.description  # "20 per 1 minute"
    if limit:
        return message(f"http.{code}.limit", limit=limit)
    return status_message(code)


def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    parameter = "body" if code in (413, 415) else None
    # Keep what the error says in headers (Allow of a 405, Retry-After, WWW-Authenticate).
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return answer(error_body(code, *_reason(exc, code), parameter), headers)


def _server_error(exc: InternalServerError) -> Response:
    # exc.description and exc.original_exception may name files, queries or values: the
    # client gets the generic answer only (Flask has logged the traceback).
    return answer(error_body(500, *status_message(500)))


def _check_limits() -> None:
    if target_bytes(request.environ) > MAX_TARGET_BYTES:
        raise RequestURITooLarge
    if header_bytes(request.headers.items()) > MAX_HEADER_BYTES:
        raise RequestHeaderFieldsTooLarge


def status_answer(app: Flask, code: int, *, api: bool) -> Response:
    """The app's answer to HTTP error ``code`` for a request it never saw.

    For the errors the web server answers itself (a request it cannot parse, header fields
    or a body over its limits): the same answer as the app gives, security headers included.

    Parameters
    ----------
    app
        The app.
    code
        The HTTP status (400, 413, 414, 431, 500, 501, …).
    api
        Whether the request was for a path under ``/api`` (JSON) or not (the HTML page).

    Returns
    -------
    Response
    """
    exc = default_exceptions.get(code, InternalServerError)()
    with app.test_request_context("/api" if api else "/"):
        return app.process_response(app.make_response(app.handle_http_exception(exc)))


def init_app(app: Flask) -> None:
    """Register the handlers and the limits' check on ``app``.

    The 500 handler is registered by code, so it also wins over a handler of
    `HTTPException` (Flask looks up handlers for the exact code first).
    """
    app.before_request(_check_limits)
    app.register_error_handler(ParameterError, _parameter_error)
    app.register_error_handler(NetworkLoadingError, _network_loading)
    app.register_error_handler(NetworkError, _network_unavailable)
    app.register_error_handler(OsmError, _network_unavailable)
    app.register_error_handler(StoreError, _store_unavailable)
    app.register_error_handler(QueueFullError, _queue_full)
    app.register_error_handler(ClientJobsError, _client_jobs)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(500, _server_error)
