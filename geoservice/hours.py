"""Evaluate OSM ``opening_hours`` strings for warm stations, in Asia/Shanghai time.

Warm stations (暖心驿站) publish their hours as OpenStreetMap ``opening_hours`` expressions,
for example ``Mo-Fr 08:00-18:00``, ``Mo-Su 07:00-11:30,13:30-20:00; PH off`` or ``24/7``.
This module parses them with the Rust-backed ``opening_hours`` library (PyPI
``opening-hours-py``) and answers "is it open now?", "when does it open/close next?" and
gives a short Chinese status line for the map popups.

Conventions
-----------
* Time zone. Every evaluation happens in Asia/Shanghai wall time (`TZ`). Naive datetimes
  are interpreted as Shanghai wall time; aware datetimes (any ``tzinfo``, including
  ``datetime.timezone.utc``) are converted to Shanghai first. Returned datetimes are always
  aware, with ``tzinfo=TZ``. ``at=None`` means "now".
* Public holidays. Expressions are evaluated without a country, hence without a holiday
  calendar: ``PH`` / ``SH`` selectors are accepted but never match, so ``PH off`` is a
  no-op and a station with ``Mo-Fr 08:00-18:00; PH off`` is reported open on a weekday
  that happens to be a public holiday.
* Unknown state. Rules such as ``24/7 unknown`` or ``Mo-Fr 08:00-18:00 || unknown`` can put
  a station in the "unknown" state; it counts as *not open* everywhere in this module.
* Search horizon. `Hours.next_open` and `Hours.next_close` look at most `HORIZON` (8 days)
  ahead and return None beyond it. Bounding the search matters: the library's own
  ``next_change`` scans up to the year 9999 when the state never changes again, which costs
  about half a second per call for an expression such as ``2020 Mo-Fr 08:00-18:00``. The
  window is walked one calendar day at a time because the library's ``intervals()`` and
  ``next_change()`` miss changes for expressions with a fallback rule (``||``).
* Normalisation. Before parsing, spreadsheet spellings are turned into OSM syntax (see
  `normalize`): full-width digits/letters/punctuation (``：；，－～``), dashes ``—``/``–``
  and tildes become their ASCII counterparts (``~`` and ``～`` become ``-``), Chinese
  quotes ``“”`` become ``"``, the enumeration comma ``、`` becomes ``,``, runs of
  whitespace (including line breaks) collapse to one space, ``;`` is written ``"; "``, and
  ``全天`` / ``24小时`` / ``24 小时`` / ``全天24小时`` (optionally followed by ``营业`` or
  ``开放``) become ``24/7`` when they form a whole rule, or ``00:00-24:00`` after a
  selector (``Mo-Fr 全天``). Quoted comments are left untouched. The normalised string is
  kept as `Hours.expr`; error positions refer to it.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

import numpy as np
import opening_hours
from numpy.typing import NDArray

from geoservice.errors import HoursError

__all__ = [
    "HORIZON",
    "INVALID_ZH",
    "TZ",
    "Hours",
    "HoursError",
    "OpenStatus",
    "normalize",
    "open_mask",
    "parse",
    "status",
    "validate",
]

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
"""Time zone of every evaluation and of every returned datetime."""

HORIZON = timedelta(days=8)
"""How far `Hours.next_open` / `Hours.next_close` look ahead."""

_DAY = timedelta(days=1)

StateName = Literal["open", "closed", "unknown"]

_STATES: dict[opening_hours.State, StateName] = {
    opening_hours.State.OPEN: "open",
    opening_hours.State.CLOSED: "closed",
    opening_hours.State.UNKNOWN: "unknown",
}

# --- normalisation -----------------------------------------------------------------------

# Full-width ASCII block (U+FF01..U+FF5E) to ASCII, plus common spreadsheet punctuation.
_TRANSLATE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_TRANSLATE.update(
    {
        ord("～"): "-",  # full-width tilde (overrides the ~ mapping above)
        ord("~"): "-",
        ord("〜"): "-",  # wave dash
        ord("—"): "-",  # em dash
        ord("–"): "-",  # en dash
        ord("\u3000"): " ",  # ideographic space
        ord("、"): ",",
    }
)
_QUOTES = str.maketrans({"“": '"', "”": '"', "＂": '"'})
_COMMENT_RE = re.compile(r'("[^"]*")')
_ALL_DAY = r"(?:全天\s*(?:24\s*小时)?|24\s*小时)(?:营业|开放)?"
# An all-day token that forms a whole rule (start of text or after ';', up to ';' or end).
_ALL_DAY_RULE_RE = re.compile(rf"(^|;)\s*{_ALL_DAY}\s*(?=;|$)")
_ALL_DAY_RE = re.compile(_ALL_DAY)
_WS_RE = re.compile(r"\s+")
_SEMICOLON_RE = re.compile(r"\s*;\s*")

# --- error reporting ---------------------------------------------------------------------

_POSITION_RE = re.compile(r"-->\s*(\d+):(\d+)")
_RULE_NAMES = {
    "EOI": "end of expression",
    "wday": "a weekday",
    "any_rule_separator": "a rule separator (';', ',' or '||')",
    "normal_rule_separator": "';'",
    "rules_modifier": "a rule modifier (open, closed, off, unknown)",
    "timespan": "a time range",
    "timespan_plus": "a time range",
    "time": "a time",
    "extended_time": "a time (hh:mm)",
    "hour": "an hour",
    "minute": "minutes (two digits)",
    "holiday": "a holiday (PH, SH)",
    "always_open": "'24/7'",
    "small_range_selectors": "a weekday or time selector",
    "week_selector": "a week selector",
    "monthday_range": "a date range",
    "month": "a month",
    "year": "a year",
    "variable_date": "a variable date",
    "comment": "a quoted comment",
}
_EXPECTED_SPLIT_RE = re.compile(r",\s*(?:or\s+)?|\s+or\s+")

_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _describe_expected(detail: str) -> str:
    """Turn a pest error line (``expected wday``) into readable English.

    Parameters
    ----------
    detail
        The last line of the library's error text, without its leading ``=``.

    Returns
    -------
    str
        E.g. ``expected a weekday`` or ``unexpected end of expression``.
    """
    parts = []
    for clause in detail.split("; "):
        words = clause.split(" ", 1)
        if len(words) != 2 or words[0] not in {"expected", "unexpected"}:
            parts.append(clause)
            continue
        names = [n.strip() for n in _EXPECTED_SPLIT_RE.split(words[1]) if n.strip()]
        readable = list(dict.fromkeys(_RULE_NAMES.get(n, n.replace("_", " ")) for n in names))
        if len(readable) > 1:
            listed = ", ".join(readable[:-1]) + " or " + readable[-1]
            if words[0] == "expected" and len(readable) > 2:
                listed = "one of " + listed
        else:
            listed = readable[0] if readable else "?"
        parts.append(f"{words[0]} {listed}")
    return "; ".join(parts)


def _error_from_parser(exc: Exception, expr: str) -> HoursError:
    """Build a `HoursError` from the library's ``ParserError``.

    The library reports positions in pest's ``--> line:column`` form (1-based, counted in
    characters, not bytes); they are converted to a 0-based offset into `expr`.

    Parameters
    ----------
    exc
        The ``opening_hours.ParserError``.
    expr
        The expression that was parsed.

    Returns
    -------
    HoursError
    """
    text = str(exc)
    position: int | None = None
    match = _POSITION_RE.search(text)
    if match:
        line, col = int(match.group(1)), int(match.group(2))
        lines = expr.split("\n")
        if 1 <= line <= len(lines):
            offset = sum(len(s) + 1 for s in lines[: line - 1]) + col - 1
            position = min(max(offset, 0), len(expr))
    last = text.rstrip().splitlines()[-1].strip() if text.strip() else ""
    detail = _describe_expected(last[1:].strip()) if last.startswith("=") else "invalid syntax"
    where = f" at position {position}" if position is not None else ""
    msg = f"opening_hours syntax error{where} ({expr!r}): {detail}"
    return HoursError(msg, expr, position)


@functools.lru_cache(maxsize=4096)
def _normalize_str(expr: str) -> str:
    """Normalise a string (cached); see `normalize`."""
    expr = expr.translate(_QUOTES)
    pieces = _COMMENT_RE.split(expr)
    for i in range(0, len(pieces), 2):  # even indices are outside quoted comments
        piece = pieces[i].translate(_TRANSLATE)
        piece = _ALL_DAY_RULE_RE.sub(r"\1 24/7 ", piece)
        piece = _ALL_DAY_RE.sub(" 00:00-24:00 ", piece)
        piece = _SEMICOLON_RE.sub("; ", piece)
        pieces[i] = _WS_RE.sub(" ", piece)
    return "".join(pieces).strip()


def normalize(expr: str) -> str:
    """Normalise a spreadsheet spelling of opening hours into OSM syntax.

    Parameters
    ----------
    expr
        Opening hours as typed in a spreadsheet, e.g. ``"Mo-Fr 08：00～18：00"`` (full-width
        punctuation) or ``"全天"``.

    Returns
    -------
    str
        The normalised expression (not validated). See the module docstring for the rules.

    Raises
    ------
    HoursError
        If `expr` is not a string or is empty/blank.
    """
    if not isinstance(expr, str):
        msg = f"opening_hours must be a string, got {type(expr).__name__}: {expr!r}"
        raise HoursError(msg, repr(expr))
    norm = _normalize_str(expr)
    if not norm:
        # The library itself would accept "  " as 24/7: reject blank input explicitly.
        msg = f"opening_hours expression is empty ({expr!r})"
        raise HoursError(msg, norm)
    return norm


def _compile(norm: str) -> opening_hours.OpeningHours:
    """Parse a normalised expression with the library, translating its errors."""
    try:
        return opening_hours.OpeningHours(norm)
    except opening_hours.ParserError as exc:
        raise _error_from_parser(exc, norm) from None


def _local(at: datetime | None) -> datetime:
    """Return `at` as a naive Asia/Shanghai wall time (now when None).

    Parameters
    ----------
    at
        Naive (Shanghai wall time) or aware datetime, or None for now.

    Returns
    -------
    datetime
        Plain naive ``datetime`` in Shanghai wall time.

    Raises
    ------
    TypeError
        If `at` is neither a datetime nor None (a ``date`` is rejected).
    """
    if at is None:
        return datetime.now(TZ).replace(tzinfo=None)
    if not isinstance(at, datetime):
        msg = f"expected a datetime or None, got {type(at).__name__}: {at!r}"
        raise TypeError(msg)
    if at.utcoffset() is not None:
        at = at.astimezone(TZ).replace(tzinfo=None)
    elif at.tzinfo is not None:
        at = at.replace(tzinfo=None)
    if type(at) is not datetime:  # e.g. pandas.Timestamp: hand the library a plain datetime
        at = datetime(at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond)
    return at


def _aware(local: datetime) -> datetime:
    """Attach `TZ` to a naive Shanghai wall time."""
    return local.replace(tzinfo=TZ)


def as_local(at: datetime | None = None) -> datetime:
    """Return `at` (now when None) as an aware Asia/Shanghai datetime.

    Naive datetimes are taken as Shanghai wall time; aware ones are converted.
    """
    return _aware(_local(at))


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time from a query string into an aware Asia/Shanghai datetime.

    ``2026-11-25T13:00`` (Shanghai wall time), ``2026-11-25T05:00Z`` and
    ``2026-11-25T13:00:00+08:00`` are all accepted; a bare date means its midnight.

    Raises
    ------
    ValueError
        Naming the expected format, for anything else.
    """
    raw = str(text).strip()
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
    except ValueError:
        msg = f"not an ISO 8601 time: {raw!r} (e.g. 2026-11-25T13:00 or 2026-11-25T05:00Z)"
        raise ValueError(msg) from None
    return as_local(parsed)


def _horizon_end(local: datetime) -> datetime:
    """`local` + `HORIZON`, capped at ``datetime.max``."""
    return local + HORIZON if local < datetime.max - HORIZON else datetime.max


@dataclass(frozen=True)
class Hours:
    """A parsed ``opening_hours`` expression evaluated in Asia/Shanghai time.

    Build it with `parse` (cached) or directly as ``Hours(expr)``; the expression is
    normalised (see `normalize`) and parsed on construction.

    Parameters
    ----------
    expr
        OSM ``opening_hours`` expression, possibly in a Chinese spreadsheet spelling.

    Attributes
    ----------
    expr : str
        The normalised OSM expression.

    Raises
    ------
    HoursError
        If the expression is not a non-empty string or does not parse.
    """

    expr: str
    _oh: opening_hours.OpeningHours = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        norm = normalize(self.expr)
        oh = _compile(norm)
        object.__setattr__(self, "expr", norm)
        object.__setattr__(self, "_oh", oh)
        object.__setattr__(self, "_always_open", str(oh.normalize()) == "24/7")

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # The library's OpeningHours object cannot be pickled; re-parse instead.
        return (parse, (self.expr,))

    def __str__(self) -> str:
        return self.expr

    @property
    def is_always_open(self) -> bool:
        """Whether the expression is open around the clock, every day.

        Decided structurally with the library's normaliser (``Mo-Su 00:00-24:00`` and
        ``00:00-12:00,12:00-24:00`` count; ``24/7; PH off`` and ``24/7 "comment"`` do not,
        even though ``PH`` never matches here).
        """
        return self._always_open

    def state(self, at: datetime | None = None) -> StateName:
        """State at `at`: ``"open"``, ``"closed"`` or ``"unknown"``.

        Parameters
        ----------
        at
            Moment to evaluate; naive means Shanghai wall time, None means now.

        Returns
        -------
        str
        """
        return _STATES[self._oh.state(_local(at))[0]]

    def is_open(self, at: datetime | None = None) -> bool:
        """Whether the station is open at `at` (the "unknown" state counts as not open).

        Parameters
        ----------
        at
            Moment to evaluate; naive means Shanghai wall time, None means now.

        Returns
        -------
        bool
        """
        return self._oh.is_open(_local(at))

    def _intervals(self, local: datetime) -> Iterator[tuple[datetime, bool]]:
        """Yield ``(start, is_open)`` of state intervals over ``[local, local + HORIZON)``.

        The library's ``intervals()`` (and ``next_change()``) can miss every change after
        the first closed stretch when the expression has a fallback rule (``||``), e.g.
        ``Mo-Fr 08:00-18:00 || unknown`` reports "closed" from Wednesday 18:00 onwards
        although ``state()`` is "open" on Thursday 09:00. Restarting the iterator at every
        midnight gives results that agree with ``state()``, so the window is walked one
        calendar day at a time. Starts are naive Shanghai wall times.
        """
        end = _horizon_end(local)
        chunk_start = local
        while chunk_start < end:
            chunk_end = end
            if chunk_start.date() < date.max:
                chunk_end = min(datetime.combine(chunk_start.date() + _DAY, time()), end)
            for start, _end, state, _comment in self._oh.intervals(chunk_start, chunk_end):
                yield start, state == opening_hours.State.OPEN
            chunk_start = chunk_end

    def _next_open(self, local: datetime) -> datetime | None:
        for start, is_open in self._intervals(local):
            if is_open:
                return start
        return None

    def _next_close(self, local: datetime) -> datetime | None:
        for start, is_open in self._intervals(local):
            if not is_open:
                return start
        return None

    def next_open(self, at: datetime | None = None) -> datetime | None:
        """Earliest moment at or after `at` when the station is open.

        Parameters
        ----------
        at
            Reference moment; naive means Shanghai wall time, None means now.

        Returns
        -------
        datetime or None
            `at` itself (converted to Shanghai, not rounded) if open at `at`; otherwise
            the start of the next opening; None if it does not open within `HORIZON`
            (always closed, or only "unknown").
        """
        found = self._next_open(_local(at))
        return None if found is None else _aware(found)

    def next_close(self, at: datetime | None = None) -> datetime | None:
        """Earliest moment at or after `at` when the station is not open.

        Parameters
        ----------
        at
            Reference moment; naive means Shanghai wall time, None means now.

        Returns
        -------
        datetime or None
            The end of the current opening if open at `at` (consecutive open intervals,
            e.g. split by comments or at midnight, are merged); `at` itself (converted to
            Shanghai) if not open at `at`; None if it stays open throughout `HORIZON`
            (e.g. ``24/7``).
        """
        found = self._next_close(_local(at))
        return None if found is None else _aware(found)

    def describe_zh(self, at: datetime | None = None) -> str:
        """Short Chinese status line for popups.

        Parameters
        ----------
        at
            Reference moment; naive means Shanghai wall time, None means now.

        Returns
        -------
        str
            One of ``"24小时开放"``; ``"营业中 · 18:00 关闭"`` (today), ``"营业中 · 24:00
            关闭"`` (closes at midnight), ``"营业中 · 明天 02:00 关闭"``; ``"已关闭 · 13:30
            开放"`` (later today), ``"已关闭 · 明天 07:00 开放"``, ``"已关闭 · 周一 08:00
            开放"`` (2 to 6 days ahead), ``"已关闭 · 12月3日 08:00 开放"`` (7 days or more);
            ``"营业中"`` / ``"已关闭"`` when no change happens within `HORIZON`;
            ``"营业状态未知"`` for the "unknown" state.
        """
        if self._always_open:
            return "24小时开放"
        local = _local(at)
        state = _STATES[self._oh.state(local)[0]]
        if state == "unknown":
            return "营业状态未知"
        if state == "open":
            close = self._next_close(local)
            return "营业中" if close is None else f"营业中 · {_when_zh(local, close, True)} 关闭"
        opens = self._next_open(local)
        return "已关闭" if opens is None else f"已关闭 · {_when_zh(local, opens, False)} 开放"


def _when_zh(ref: datetime, when: datetime, closing: bool) -> str:
    """Chinese relative day + ``HH:MM`` of `when` seen from `ref` (both naive, Shanghai).

    Parameters
    ----------
    ref
        Reference moment.
    when
        Moment to describe, at or after `ref`.
    closing
        Whether this is a closing time: midnight right after `ref`'s day is then written
        ``24:00`` (today) rather than ``明天 00:00``.

    Returns
    -------
    str
    """
    days = (when.date() - ref.date()).days
    hhmm = f"{when:%H:%M}"
    if closing and days == 1 and when.time() == time(0, 0):
        return "24:00"
    if days <= 0:
        return hhmm
    if days == 1:
        return f"明天 {hhmm}"
    if days < 7:
        return f"{_WEEKDAYS_ZH[when.weekday()]} {hhmm}"
    return f"{when.month}月{when.day}日 {hhmm}"


@functools.lru_cache(maxsize=4096)
def _parse_normalized(norm: str) -> Hours:
    """Parse a normalised expression (cached)."""
    return Hours(norm)


def parse(expr: str | Hours) -> Hours:
    """Parse an ``opening_hours`` expression (cached on the normalised string).

    Parameters
    ----------
    expr
        OSM ``opening_hours`` expression, possibly in a Chinese spreadsheet spelling
        (leading/trailing whitespace is ignored). An `Hours` is returned unchanged.

    Returns
    -------
    Hours

    Raises
    ------
    HoursError
        If `expr` is not a string, is empty/blank, or is not valid syntax.

    Examples
    --------
    >>> parse("Mo-Fr 08：00－18：00").expr
    'Mo-Fr 08:00-18:00'
    >>> parse("全天").is_always_open
    True
    """
    if isinstance(expr, Hours):
        return expr
    return _parse_normalized(normalize(expr))


def validate(expr: str) -> str:
    """Validate an expression and return its normalised form.

    Parameters
    ----------
    expr
        OSM ``opening_hours`` expression, possibly in a Chinese spreadsheet spelling.

    Returns
    -------
    str
        The normalised expression.

    Raises
    ------
    HoursError
        If `expr` is not a string, is empty/blank, or is not valid syntax.
    """
    return parse(expr).expr


def open_mask(
    exprs: Sequence[str | Hours],
    at: datetime | None = None,
    *,
    on_error: Literal["raise", "closed"] = "raise",
) -> NDArray[np.bool_]:
    """Evaluate many stations at one moment.

    Parameters
    ----------
    exprs
        Expressions (or `Hours`), e.g. a column of a stations table. Parsing is cached and
        each distinct expression is evaluated once per call.
    at
        Moment to evaluate; naive means Shanghai wall time, None means now (taken once for
        the whole batch).
    on_error
        ``"raise"`` (default) raises `HoursError` on the first invalid, empty or non-string
        entry (e.g. a missing value); ``"closed"`` reports such entries as closed.

    Returns
    -------
    numpy.ndarray of bool
        ``mask[i]`` is True when station ``i`` is open at `at`.

    Raises
    ------
    HoursError
        On an invalid entry when ``on_error="raise"``.
    """
    if on_error not in {"raise", "closed"}:
        msg = f"on_error must be 'raise' or 'closed', got {on_error!r}"
        raise ValueError(msg)
    local = _local(at)
    memo: dict[object, bool] = {}
    out = np.zeros(len(exprs), dtype=bool)
    for i, expr in enumerate(exprs):
        key = expr if isinstance(expr, str | Hours) else None
        if key is not None and key in memo:
            out[i] = memo[key]
            continue
        try:
            value = parse(expr)._oh.is_open(local)
        except HoursError:
            if on_error == "raise":
                raise
            value = False
        if key is not None:
            memo[key] = value
        out[i] = value
    return out


#: What pages and the API show for a stored value the parser rejects.
INVALID_ZH = "时间格式有误"


@dataclass(frozen=True, slots=True)
class OpenStatus:
    """Whether a station is open at a moment: the one rule used by the API, the pages and
    the routing engine.

    Attributes
    ----------
    valid : bool
        False when the stored ``opening_hours`` cannot be read (then ``open`` is False).
    open : bool
        Open at the moment asked (the "unknown" state counts as not open).
    text_zh : str
        Short Chinese status (``"营业中 · 18:00 关闭"``), or `INVALID_ZH`.
    hours_zh : str
        The opening hours themselves, in Chinese, or `INVALID_ZH`.
    next_open : datetime or None
        The moment itself when open, else the next opening within `HORIZON`.
    """

    valid: bool
    open: bool
    text_zh: str
    hours_zh: str
    next_open: datetime | None

    def to_dict(self) -> dict:
        """JSON fields of a station record."""
        return {
            "open_now": self.open,
            "status": self.text_zh,
            "hours_zh": self.hours_zh,
            "hours_valid": self.valid,
            "next_open": None if self.next_open is None else self.next_open.isoformat(),
        }


def status(expr: object, at: datetime | None = None) -> OpenStatus:
    """The open status of a stored ``opening_hours`` value at `at`; never raises.

    Parameters
    ----------
    expr
        The stored value (normally a validated OSM expression; anything else, such as a
        value edited in QGIS, is reported as invalid and closed).
    at
        Moment to evaluate; naive means Shanghai wall time, None means now.

    Returns
    -------
    OpenStatus
    """
    try:
        h = parse(expr)  # type: ignore[arg-type]
    except HoursError:
        return OpenStatus(False, False, INVALID_ZH, INVALID_ZH, None)
    local = _local(at)
    is_open = h._oh.is_open(local)
    nxt = local if is_open else h._next_open(local)
    return OpenStatus(
        valid=True,
        open=is_open,
        text_zh=h.describe_zh(local),
        hours_zh=h.expr,
        next_open=None if nxt is None else _aware(nxt),
    )
