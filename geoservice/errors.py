"""Every exception class of geoservice, in one place (as osmnx keeps its ``_errors``).

The web adapter maps them to HTTP answers; the CLI prints their messages. Messages meant
for users carry Chinese first, then English (``"中文 / English"``).
"""

from __future__ import annotations

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


class ParameterError(GeoserviceError, ValueError):
    """A request or command parameter has a value that cannot be used.

    The one error type for every query and body parameter (the web layer answers it with
    ``status`` and a JSON body naming ``parameter``).

    Parameters
    ----------
    parameter
        Name of the parameter as the client wrote it (``"k"``, ``"origins[3]"``), or None.
    zh, en
        The reason in Chinese and in English; inputs must be quoted with `excerpt`.
    status
        HTTP status for the web layer: 400 (bad value) or 422 (well-formed but not
        answerable, e.g. a point far from every road).
    """

    def __init__(
        self, parameter: str | None, zh: str, en: str | None = None, *, status: int = 400
    ) -> None:
        en = zh if en is None else en
        super().__init__(f"{zh} / {en}" if en != zh else zh)
        self.parameter = parameter
        self.zh = zh
        self.en = en
        self.status = status

    @property
    def message(self) -> str:
        """``"中文 / English"``."""
        return str(self)

    def to_dict(self) -> dict:
        """JSON body for the client."""
        return {
            "error": self.message,
            "message_zh": self.zh,
            "message_en": self.en,
            "parameter": self.parameter,
        }


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


class FileFormatError(GeoserviceError, ValueError):
    """The file cannot be read as a table (format, encoding, structure, size)."""


class ValidationError(GeoserviceError, ValueError):
    """The rows of a file are not valid; ``errors`` lists every problem.

    Parameters
    ----------
    errors
        :class:`geoservice.validate.RowError` items (row number, the user's column, reason).
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


class StoreError(GeoserviceError, RuntimeError):
    """The store cannot be read or written."""


class StoreBusyError(StoreError):
    """Another writer held the lock for longer than the timeout."""


class OsmError(GeoserviceError, ValueError):
    """An OSM source cannot be read or has no roads."""


class NetworkError(GeoserviceError, RuntimeError):
    """A network cannot be built or loaded."""


class QueryError(GeoserviceError, ValueError):
    """A query parameter has a value the catalogue does not know; ``parameter`` names it."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class NearestError(GeoserviceError, ValueError):
    """A nearest-station query that cannot be answered; ``parameter`` names the culprit."""

    def __init__(self, message: str, parameter: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.status = status


class PublishError(GeoserviceError, RuntimeError):
    """A static site cannot be published (sample data not allowed, no CJK font)."""
