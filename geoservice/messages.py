"""The fixed bilingual messages of the service's error answers: one table, by message id.

Every fixed text an error answer carries (the reason of an HTTP status, an unusable road
network or store, tours being planned) is written here once, Chinese and English side by
side, under a stable id. Code asks for a message by its id (:func:`message`, or
:func:`status_message` for an HTTP status); :func:`geoservice.errors.error_body` builds the
answer from it. A later English (or other) interface translates from this table: the ids are
the keys of a catalogue (gettext's msgids), and placeholders are named (``{limit}``) so that
a translation may move them.

Messages about a user's input (a bad parameter value, an unknown id) are written where the
input is checked (:mod:`geoservice.params`, the domain modules), since they quote it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MESSAGES", "message", "status_message"]

#: Message id → (Chinese, English). English is a lower-case phrase, as in every error answer
#: (``"找不到该地址 / not found"``).
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # The reasons of HTTP statuses: the answer to an error without a more precise message.
    "http.400": ("请求有误", "bad request"),
    "http.401": ("请先登录或提供有效的令牌", "log in or send a valid token"),
    "http.403": ("无权访问", "forbidden"),
    "http.404": ("找不到该地址", "not found"),
    "http.405": ("该地址不支持此请求方法", "method not allowed"),
    "http.406": ("无法提供所要求的格式", "not acceptable"),
    "http.408": ("请求超时", "request timeout"),
    "http.409": ("与现有数据冲突", "conflict with the current data"),
    "http.412": (
        "记录已被他人修改，请刷新后再试",
        "the record has changed; reload it and try again",
    ),
    "http.413": ("请求内容过大", "request body too large"),
    "http.414": ("请求地址过长", "request URI too long"),
    "http.415": ("不支持的请求内容类型", "unsupported media type"),
    "http.429": ("请求过于频繁，请稍后再试", "too many requests, please try again later"),
    "http.431": ("请求头过大", "request header fields too large"),
    "http.500": ("服务器内部错误，请稍后再试", "internal server error, please try again later"),
    "http.501": ("不支持此请求", "not implemented"),
    "http.503": ("服务暂时不可用，请稍后再试", "service unavailable, please try again later"),
    # Any other status.
    "http.other": ("请求未能完成", "request failed"),
    # The same reasons with the limit that was exceeded.
    "http.413.limit": (
        "请求内容过大（上限 {limit:,} 字节）",
        "request body too large (limit {limit:,} bytes)",
    ),
    "http.414.limit": (
        "请求地址过长（上限 {limit:,} 字节）",
        "request URI too long (limit {limit:,} bytes)",
    ),
    "http.429.limit": (
        "请求过于频繁，请稍后再试",
        "too many requests ({limit}), please try again later",
    ),
    "http.431.limit": (
        "请求头过大（上限 {limit:,} 字节）",
        "request header fields too large (limit {limit:,} bytes)",
    ),
    # The service's own answers.
    "network.loading": (
        "路网正在加载，请稍后再试",
        "the road networks are loading, please try again shortly",
    ),
    "network.unavailable": (
        "路网不可用，暂时无法计算路线",
        "road network unavailable: {detail}",
    ),
    "store.unavailable": (
        "数据暂时无法保存或读取，请稍后再试",
        "storage unavailable, please try again later",
    ),
    # Jobs (tour plans, coverage, siting) that run off the request path.
    "jobs.full": (
        "排队的计算任务已满，请稍后再试",
        "the job queue is full, please try again shortly",
    ),
    "jobs.per_client": (
        "您已有 {limit} 个计算任务在排队或计算中，请等其完成后再提交",
        "you have {limit} jobs queued or running; wait for one to end",
    ),
    "jobs.unknown": ("找不到任务 {id}", "no job with the id {id}"),
    "jobs.cap": (
        "计算超过 {seconds} 秒上限，已停止；请减少站点或天数后再试",
        "stopped at its limit of {seconds} s; try fewer stops or days",
    ),
    "jobs.cancelled": ("任务已取消", "the job was cancelled"),
    "jobs.orphaned": (
        "计算进程意外停止，请重新提交",
        "the worker running the job stopped; please submit it again",
    ),
    "jobs.crashed": ("计算出错，请稍后再试", "the job failed, please try again later"),
}


def message(key: str, **values: object) -> tuple[str, str]:
    """The (Chinese, English) message ``key``, its placeholders filled from ``values``.

    Parameters
    ----------
    key
        A key of `MESSAGES` (``"http.404"``, ``"jobs.full"``).
    **values
        The placeholders' values (``limit=1024``); a placeholder only one language uses
        is simply left out of the other.

    Returns
    -------
    tuple of str
        ``(zh, en)``.

    Raises
    ------
    KeyError
        When there is no such message, or a placeholder has no value.
    """
    zh, en = MESSAGES[key]
    return zh.format(**values), en.format(**values)


def status_message(code: int) -> tuple[str, str]:
    """The (Chinese, English) reason of an HTTP status code (``"http.other"`` when there is
    none in the table)."""
    return MESSAGES.get(f"http.{code}", MESSAGES["http.other"])
