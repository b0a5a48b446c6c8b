"""Every exception class of geoservice, in one place (as osmnx keeps its ``_errors``).

The web adapter maps them to HTTP answers; the CLI prints their messages. Messages meant
for users carry Chinese first, then English (``"中文 / English"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geoservice.i18n import DEFAULT_LANG
from geoservice.messages import message

if TYPE_CHECKING:
    from geoservice.responses import ErrorBody, RecordErrorBody, TourErrorBody, TourUnserved
    from geoservice.store.catalog import ImportReport

#: Longest piece of a user's input echoed back in an error message.
EXCERPT_CHARS = 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable ``repr``-like excerpt of a user's input for error messages.

    Parameters
    ----------
    value
        Whatever the user sent (a string, a number, a JSON value).
    limit
        Most characters kept; longer input is cut and marked with ``…``.

    Returns
    -------
    str
        ``repr`` of the (cut) value: control characters escaped, never longer than
        ``limit`` plus a few quote/ellipsis characters.
    """
    if isinstance(value, str):
        text = value
    else:
        try:
            text = repr(value)
        except Exception:  # a hostile __repr__ must not turn an error into a 500
            text = f"<{type(value).__name__}>"
        if len(text) > limit:
            return text[:limit] + "…"
        return text
    cut = len(text) > limit
    shown = repr(text[:limit])
    return shown + "…" if cut else shown


class GeoserviceError(Exception):
    """Base class of every geoservice error."""


def error_body(
    status: int, zh: str, en: str, parameter: str | None = None, *, lang: str = DEFAULT_LANG
) -> ErrorBody:
    """The JSON body of every error answer of the API (the only place that builds one).

    Fixed messages come from :mod:`geoservice.messages`; ``geoservice.web.http_errors``
    sends the body for every status, routing errors and the web server's own included.

    Parameters
    ----------
    status
        The HTTP status code the body is sent with.
    zh, en
        The reason in Chinese and in English (any user input in them already cut with
        `excerpt`).
    parameter
        The parameter at fault, or None when the request as a whole is refused.
    lang
        The request's language (:data:`geoservice.i18n.LANGS`): ``error`` and ``message``
        follow it (zh-Hans, the default: Chinese first; English: English first), while
        ``message_zh`` and ``message_en`` never change.

    Returns
    -------
    ErrorBody
        ``{"error": "中文 / English", "message": "中文", "message_zh", "message_en",
        "parameter", "status"}``; in English ``{"error": "English / 中文", "message":
        "English", …}``.
    """
    first, second = (en, zh) if lang == "en" else (zh, en)
    return {
        "error": f"{first} / {second}" if first != second else first,
        "message": first,
        "message_zh": zh,
        "message_en": en,
        "parameter": parameter,
        "status": status,
    }


class ParameterError(GeoserviceError, ValueError):
    """A request or command parameter has a value that cannot be used.

    The one error type for every query, path and body parameter: the web layer answers it
    with ``status`` and the JSON body of :meth:`to_dict` (see :func:`error_body`).

    Parameters
    ----------
    parameter
        Name of the parameter as the client wrote it (``"k"``, ``"origins[3]"``,
        ``"body"``), or None.
    zh, en
        The reason in Chinese and in English; inputs must be quoted with `excerpt`.
    status
        HTTP status for the web layer: 400 (a bad value), 404 (an id that does not exist),
        409 (a name already taken), 413 (a body over its size limit), 415 (a body that is
        not JSON) or 422 (well-formed but not answerable, e.g. a point far from every road);
        the subclasses below add 401/403 and 412/428.
    """

    STATUSES: tuple[int, ...] = (400, 404, 409, 413, 415, 422)

    def __init__(
        self, parameter: str | None, zh: str, en: str | None = None, *, status: int = 400
    ) -> None:
        en = zh if en is None else en
        if status not in self.STATUSES:
            msg = f"status must be one of {self.STATUSES}, not {status!r}"
            raise ValueError(msg)
        super().__init__(f"{zh} / {en}" if en != zh else zh)
        self.parameter = parameter
        self.zh = zh
        self.en = en
        self.status = status

    @property
    def message(self) -> str:
        """``"中文 / English"``."""
        return str(self)

    def to_dict(self) -> ErrorBody:
        """JSON body for the client (:func:`error_body`)."""
        return error_body(self.status, self.zh, self.en, self.parameter)


class AccessError(ParameterError):
    """The client may not do this: 401 (no valid login or token) or 403 (a role or town
    the user does not have)."""

    STATUSES = (401, 403)


class LoginError(AccessError):
    """A login refused: wrong name or password, a disabled or a locked account (401)."""

    def __init__(self, zh: str, en: str, *, locked_until: float | None = None) -> None:
        super().__init__("password", zh, en, status=401)
        self.locked_until = locked_until


class VersionConflictError(ParameterError):
    """A write based on an old version of a record: 412 (``If-Match`` names another
    version; nothing was changed) or 428 (a version was required)."""

    STATUSES = (412, 428)


class RecordError(ParameterError):
    """A record sent to the write API is not valid (422): ``errors`` lists every problem,
    in the import's words (``{"column", "message"}`` each)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0]
        more = f"（另有 {len(errors) - 1} 处）" if len(errors) > 1 else ""
        more_en = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        zh, _, en = first["message"].partition(" / ")
        super().__init__(
            first["column"],
            f"字段「{first['column']}」：{zh}{more}",
            f"field {first['column']!r}: {en or zh}{more_en}",
            status=422,
        )
        self.errors = errors

    def to_dict(self) -> RecordErrorBody:
        """JSON body: the :class:`ParameterError` fields plus ``errors``."""
        return {**super().to_dict(), "errors": self.errors}  # type: ignore[typeddict-item]


class RevertError(ParameterError):
    """A change of the audit log that cannot be reverted (409), e.g. because a later change
    touched the same record."""

    STATUSES = (404, 409)


class HoursError(GeoserviceError, ValueError):
    """Invalid ``opening_hours`` expression.

    Parameters
    ----------
    msg
        Human readable message.
    expr
        The (normalised) expression `position` refers to; ``repr()`` of the value when it
        was not a string.
    position
        0-based character offset of the error in `expr`, or None when it is not known
        (empty input, non-string input).

    Attributes
    ----------
    expr : str
        The (normalised) expression.
    position : int or None
        0-based character offset of the error in `expr`, or None.
    """

    def __init__(self, msg: str, expr: str, position: int | None = None) -> None:
        super().__init__(msg)
        self.expr = expr
        self.position = position


class ProblemsError(GeoserviceError, ValueError):
    """A file (or a set of files) cannot be used; ``problems`` lists every problem.

    Parameters
    ----------
    problems
        One ``"中文 / English"`` line per problem, naming where it is (file, row, column).
    summary
        The first line: how many problems, and that nothing was changed.
    """

    def __init__(self, problems: list[str], summary: str) -> None:
        self.problems = list(problems)
        super().__init__(summary)

    def report(self, limit: int | None = None) -> str:
        """Multi-line report: the summary then one line per problem."""
        lines = [str(self)] + [f"  {p}" for p in self.problems[:limit]]
        if limit is not None and len(self.problems) > limit:
            more = len(self.problems) - limit
            lines.append(f"  … 另有 {more} 处 / and {more} more")
        return "\n".join(lines)


class HolidayFileError(ProblemsError):
    """A table of public holidays cannot be used; ``problems`` lists every problem.

    Parameters
    ----------
    problems
        One ``"中文 / English"`` line per problem, naming the row where there is one
        (``"第 3 行，列「type」：…"``).
    path
        The file the problems were found in, for the summary line.
    """

    def __init__(self, problems: list[str], path: str = "") -> None:
        self.path = path
        n = len(problems)
        where = f"{path}: " if path else ""
        super().__init__(
            problems,
            f"{where}节假日表有 {n} 处错误，未导入任何数据 / "
            f"{n} problem(s) in the holiday table; nothing was imported",
        )


class DistrictError(ProblemsError):
    """A district's boundary, towns or water file cannot be used (``flask district set``);
    ``problems`` names the file and the feature, row or column of each problem."""

    def __init__(self, problems: list[str]) -> None:
        n = len(problems)
        super().__init__(
            problems,
            f"区域设置有 {n} 处错误，数据未改变 / "
            f"{n} problem(s) in the district's files; nothing was changed",
        )


class FileFormatError(GeoserviceError, ValueError):
    """The file cannot be read as a table (format, encoding, structure, size)."""


class ValidationError(GeoserviceError, ValueError):
    """The rows of a file are not valid; ``errors`` lists every problem.

    Parameters
    ----------
    errors
        :class:`geoservice.store.validate.RowError` items (row number, the user's column, reason).
    """

    def __init__(self, errors: list) -> None:
        self.errors = sorted(errors, key=lambda e: (e.row, e.column))
        rows = len({e.row for e in self.errors})
        super().__init__(
            f"{rows} 行有 {len(self.errors)} 处错误，未导入任何数据 / "
            f"{len(self.errors)} problem(s) in {rows} row(s); nothing was imported"
        )

    def report(self, limit: int | None = None) -> str:
        """Multi-line report: the summary then one line per error."""
        lines = [str(self)] + [f"  {e}" for e in self.errors[:limit]]
        if limit is not None and len(self.errors) > limit:
            lines.append(
                f"  … 另有 {len(self.errors) - limit} 处 / and {len(self.errors) - limit} more"
            )
        return "\n".join(lines)


class MovesNeedConfirmationError(GeoserviceError, ValueError):
    """An upsert would move records farther than
    :data:`geoservice.store.catalog.MOVE_CONFIRM_M` and the moves were not confirmed
    (``ImportOptions.confirm_moves``); nothing was written.

    Parameters
    ----------
    report
        The import's :class:`geoservice.store.catalog.ImportReport`; ``report.moved`` lists
        the moves (id, name, metres), for the user to check before confirming.
    """

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        n = len(report.moved)
        noun_zh, noun_en = (
            ("站点", "station(s)") if report.layer == "stations" else ("点位", "site(s)")
        )
        metres = f"{report.move_limit_m:g}"
        super().__init__(
            f"{n} 个{noun_zh}将移动超过 {metres} 米，需确认后才能导入；未导入任何数据 / "
            f"{n} {noun_en} would move more than {metres} m and the moves need confirming; "
            "nothing was imported"
        )


class StoreError(GeoserviceError, RuntimeError):
    """The store cannot be read or written."""


class StoreBusyError(StoreError):
    """Another writer held the lock for longer than the timeout."""


class OsmError(GeoserviceError, ValueError):
    """An OSM source cannot be read or has no roads."""


class NetworkError(GeoserviceError, RuntimeError):
    """A network cannot be built or loaded."""


class NetworkLoadingError(NetworkError):
    """The routing engine of the active network is still being built (at start, or after
    ``flask network import``): try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 5) -> None:
        super().__init__("the road networks are still loading")
        self.retry_after = retry_after


class BudgetError(NetworkError):
    """The routing data of a network would need more memory than the configured budget.

    A subclass of :class:`NetworkError`: routing cannot be (re)built, so the web layer
    answers 503 when nothing older can serve; otherwise the last good state keeps serving.

    Parameters
    ----------
    required
        Bytes the engine needs at least: the networks with their snapping indexes, one
        station filter's labels, and another's being made or repaired beside them.
    budget
        The configured budget in bytes (``ENGINE_MEMORY_BUDGET``).
    nodes
        Road nodes per mode.
    labels
        Labels per road node (``ROUTING_LABELS``).
    network
        Bytes of the networks and their snapping indexes (part of ``required``).
    """

    def __init__(
        self, required: int, budget: int, nodes: dict[str, int], labels: int, network: int = 0
    ) -> None:
        self.required = required
        self.budget = budget
        self.nodes = dict(nodes)
        self.labels = labels
        self.network = network
        total = sum(self.nodes.values())
        self.zh = (
            f"路由数据需要约 {format_bytes(required)} 内存，超过预算 {format_bytes(budget)}"
            f"（路网与吸附索引 {format_bytes(network)}，{total:,} 个路网节点 × 每个 {labels} "
            f"个最近站点，{len(self.nodes)} 种出行方式，两种筛选）；"
            "请提高 ENGINE_MEMORY_BUDGET 或减少 ROUTING_LABELS"
        )
        self.en = (
            f"the routing data would need about {format_bytes(required)}, over the budget "
            f"of {format_bytes(budget)} (networks and snapping indexes {format_bytes(network)}, "
            f"{total:,} road nodes × {labels} nearest stations each, over {len(self.nodes)} "
            "modes, two station filters); raise ENGINE_MEMORY_BUDGET or lower ROUTING_LABELS"
        )
        super().__init__(f"{self.zh} / {self.en}")


def format_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``: a byte count for messages (binary units)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    for unit in units[:-1]:
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} {units[-1]}"


class TourError(ParameterError):
    """A tour request that is well-formed but cannot be planned as asked (HTTP 422), or
    names a depot that does not exist (400).

    Parameters
    ----------
    parameter, zh, en, status
        As for :class:`ParameterError`.
    stops : list of dict, optional
        The stops at fault: ``{"id", "name", "reason_code", "reason"}`` each.
    days_needed : int, optional
        When the mandatory stops do not fit: an estimate of the days they need.
    """

    def __init__(
        self,
        parameter: str | None,
        zh: str,
        en: str | None = None,
        *,
        status: int = 422,
        stops: list[TourUnserved] | None = None,
        days_needed: int | None = None,
    ) -> None:
        super().__init__(parameter, zh, en, status=status)
        self.stops = stops or []
        self.days_needed = days_needed

    def to_dict(self) -> TourErrorBody:
        """JSON body: the :class:`ParameterError` fields plus ``stops`` and ``days_needed``."""
        return {**super().to_dict(), "stops": self.stops, "days_needed": self.days_needed}


class TourNotFoundError(GeoserviceError, LookupError):
    """No saved tour plan has that id (HTTP 404)."""


class PublishError(GeoserviceError, RuntimeError):
    """A static site cannot be published (sample data not allowed, no CJK font)."""


class QueueFullError(GeoserviceError, RuntimeError):
    """As many jobs are waiting as the service allows (``JOBS_QUEUE_MAX``): HTTP 503, retry.

    Parameters
    ----------
    retry_after : int
        Seconds after which a retry is likely to be served.
    """

    def __init__(self, retry_after: int = 10) -> None:
        self.retry_after = retry_after
        self.zh, self.en = message("jobs.full")
        super().__init__(f"{self.zh} / {self.en}")


class ClientJobsError(GeoserviceError, RuntimeError):
    """This client has as many jobs queued or running as one client may (``JOBS_PER_CLIENT``):
    HTTP 429, retry once one has ended.

    Parameters
    ----------
    limit : int
        Jobs one client may have at once.
    retry_after : int
        Seconds after which a retry is likely to be served.
    """

    def __init__(self, limit: int, retry_after: int = 10) -> None:
        self.retry_after = retry_after
        self.zh, self.en = message("jobs.per_client", limit=limit)
        super().__init__(f"{self.zh} / {self.en}")


class JobNotFoundError(ParameterError):
    """No job has that id (HTTP 404); finished jobs are forgotten after a week."""

    def __init__(self, job_id: str) -> None:
        zh, en = message("jobs.unknown", id=excerpt(job_id))
        super().__init__("id", zh, en, status=404)


class BasemapError(GeoserviceError, ValueError):
    """The ``TILES`` setting (or the ``TIANDITU_KEY`` it needs) cannot be used: the app
    refuses to start (:func:`geoservice.maps.basemaps`)."""
