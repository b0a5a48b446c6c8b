"""Request ids and one structured log line per request.

Every request gets an id: the client's ``X-Request-Id`` when it is a plausible one (a proxy
such as Caddy or nginx may set it), else a new one. It is sent back in ``X-Request-Id``,
added to every log record written while the request is handled, and logged with the
request's one access line: method, path, endpoint, status, duration and size. The query
string and the client's address are never logged: a query of ``/api/nearest`` is where an
outdoor worker stands.

``python app.py`` writes JSON lines (``LOG_FORMAT = "json"``, one object per line, for
journald or any log shipper) or plain text (``"text"``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
FORMATS = ("json", "text")
#: The logger of the access lines (one per request).
access = logging.getLogger("geoservice.access")

_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def request_id() -> str | None:
    """The current request's id, or None outside a request."""
    return g.get("request_id") if has_request_context() else None


class _RequestIdFilter(logging.Filter):
    """Give every record written during a request its ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, the process id (which
    of the web processes wrote it), the request id and the record's ``fields`` (a dict given
    as ``extra={"fields": …}``)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class Sparse(logging.Filter):
    """Let through at most one record every ``every`` seconds, counting the others.

    For waitress's "Task queue depth is N" warning: waitress writes it for every request
    that waits for a thread, while it holds the lock every thread takes its next request
    from. Under load that was one log line per request, and a fifth of the throughput.
    """

    def __init__(self, every: float = 10.0) -> None:
        super().__init__()
        self.every = every
        self._last = -every
        self._left_out = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every:
                self._left_out += 1
                return False
            left_out, self._left_out, self._last = self._left_out, 0, now
        if left_out:
            record.msg = f"{record.msg} (and {left_out} more since the last such line)"
        return True


def configure(fmt: str = "json", level: int = logging.INFO) -> None:
    """Send every log record to standard error in ``fmt`` (``json`` or ``text``), each with
    its request id (what ``python app.py`` calls; the tests leave logging alone)."""
    if fmt not in FORMATS:
        msg = f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}"
        raise ValueError(msg)
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s %(process)d [%(request_id)s] %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    queue = logging.getLogger("waitress.queue")
    queue.filters[:] = [Sparse()]


def _start() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _ID_RE.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    rid = g.get("request_id")
    if rid is None:  # a request that failed before _start ran
        return response
    response.headers[REQUEST_ID_HEADER] = rid
    started = g.get("request_started", time.perf_counter())
    access.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": rid,
            "fields": {
                "event": "request",
                "method": request.method,
                "path": request.path,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "bytes": response.calculate_content_length(),
            },
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Request ids and access lines for every request of ``app``."""
    app.before_request(_start)
    app.after_request(_finish)
    app.logger.addFilter(_RequestIdFilter())
