"""Error answers of the app: JSON under ``/api``, a bilingual HTML page elsewhere.

Routing errors (an unknown ``/api/...`` path, a wrong method) never reach the API
blueprint's own handlers, so the app answers them here: ``{"error": "中文 / English",
"status": N}`` for any path under ``/api/``, a small HTML page for the rest. A 500 is
answered here for every path, the API's included, with a generic message: the traceback
goes to the log (Flask logs it before calling the handler), never to the client.
The API blueprint's own errors (bad parameters, unknown ids, an unusable road network)
keep their formats.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

__all__ = ["MESSAGES", "init_app", "is_api_path", "message"]

#: Answers per status code: (Chinese, English).
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "Bad request"),
    403: ("无权访问", "Forbidden"),
    404: ("找不到该地址", "Not found"),
    405: ("该地址不支持此请求方法", "Method not allowed"),
    406: ("无法提供所要求的格式", "Not acceptable"),
    408: ("请求超时", "Request timeout"),
    413: ("请求内容过大", "Request entity too large"),
    414: ("请求地址过长", "URI too long"),
    415: ("不支持的内容类型", "Unsupported media type"),
    429: ("请求过于频繁，请稍后再试", "Too many requests, try again later"),
    431: ("请求头过大", "Request header fields too large"),
    500: ("服务器内部错误，请稍后再试", "Internal server error, try again later"),
    501: ("不支持此请求", "Not implemented"),
    503: ("服务暂时不可用，请稍后再试", "Service unavailable, try again later"),
}


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to the JSON API (``/api`` and everything under it)."""
    return path == "/api" or path.startswith("/api/")


def message(code: int, name: str = "") -> tuple[str, str]:
    """The (Chinese, English) message of a status code (``name``: werkzeug's, as fallback)."""
    return MESSAGES.get(code, ("请求未能完成", name or "Request failed"))


def _answer(exc: HTTPException) -> Response:
    code = exc.code or 500
    zh, en = message(code, exc.name)
    if is_api_path(request.path):
        response = jsonify(error=f"{zh} / {en}", status=code)
    else:
        response = Response(
            render_template("error.html", code=code, zh=zh, en=en),
            mimetype="text/html",
        )
    response.status_code = code
    # Keep what the error says in headers (Allow of a 405, Retry-After, WWW-Authenticate).
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _server_error(exc: InternalServerError) -> Response:
    # exc.description and exc.original_exception may name files, queries or values: the
    # client gets the generic answer only (Flask has logged the traceback).
    return _answer(InternalServerError())


def init_app(app: Flask) -> None:
    """Register the handlers on ``app``.

    The 500 handler is registered by code, so it also wins over a blueprint's handler of
    `HTTPException` (Flask looks up handlers for the exact code first).
    """
    app.register_error_handler(HTTPException, _answer)
    app.register_error_handler(500, _server_error)
