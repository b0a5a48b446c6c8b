"""Opening hours of warm stations: as staff write them, in OSM syntax, in Chinese, on China's
real calendar (Asia/Shanghai).

Stations store their hours as OpenStreetMap ``opening_hours`` expressions, for example
``Mo-Fr 08:00-18:00``, ``Mo-Su 07:00-11:30,13:30-20:00; PH off`` or ``24/7``. This module
turns what union staff type in a spreadsheet into that syntax (`convert`, `validate`), shows
any expression in Chinese (`format_zh`), and answers "is it open now?", "when does it open
or close next?" with a short Chinese status line (`Hours`, `open_mask`, `status`), using
the Rust-backed ``opening_hours`` library (PyPI ``opening-hours-py``) and the State
Council's holiday arrangements (:mod:`geoservice.holidays`).

Conventions
-----------
* Time zone. Every evaluation happens in Asia/Shanghai wall time (`TZ`). Naive datetimes
  are interpreted as Shanghai wall time; aware datetimes (any ``tzinfo``, including
  ``datetime.timezone.utc``) are converted to Shanghai first. Returned datetimes are always
  aware, with ``tzinfo=TZ``. ``at=None`` means "now".
* Public holidays and make-up working days (调休). The library's own ``country="CN"``
  calendar marks one day per festival and knows no make-up days, so it is not used; the
  calendar is :func:`geoservice.holidays.current` (the State Council's notices, 2024–2026
  shipped, more years imported with ``flask --app app hours holidays import``):

  - ``PH`` matches every day off (放假) of the table, including weekend days inside a break;
    ``PH +1 day`` / ``PH -1 day`` match the day after / before one.
  - On a make-up working day (a Saturday or Sunday worked instead of a day off) a station
    follows its Monday–Friday rules: every weekday selector (``Mo-Fr``, ``Sa,Su``,
    ``Mo``…) treats that day **as a Monday**. ``Mo-Fr 08:00-18:00; Sa,Su off`` is open
    08:00–18:00 on 2026-02-14 (a Saturday worked for the Spring Festival);
    ``Mo-Sa 08:00-12:00`` keeps its hours; ``Tu-Su 09:00-17:00`` (closed on Mondays) is
    closed that day. Date, week, month and year selectors, and ``Mo[1]``-style "n-th
    weekday of the month" selectors, keep the real date.
  - Years that the table does not cover are unknown: there ``PH`` never matches and no
    day is a make-up day (``holidays.current().covers(day)`` tells).

  How: the library evaluates a plain expression in which ``PH`` never matches. For a
  calendar day D on which the calendar matters (D or the day before it is a day off or a
  make-up day — the day before matters because a range such as ``18:00-02:00`` spills
  into D), every weekday selector of the expression is rewritten into the explicit real
  weekdays of D-1 and D that it selects under the rules above (``Mo-Fr; PH off`` on
  Thursday 2026-10-01 becomes ``We,Th …; Th off``), or into a selector that never
  matches. That expression is exact for every moment of D, so `Hours.is_open`,
  `Hours.next_open`, `Hours.next_close` (which walk the horizon one calendar day at a
  time), `Hours.describe_zh`, `open_mask` and `status` all agree, across midnight too.
  Rewritten expressions are parsed once and cached.
* Unknown state. Rules such as ``24/7 unknown`` or ``Mo-Fr 08:00-18:00 || unknown`` can put
  a station in the "unknown" state; it counts as *not open* everywhere in this module.
* Search horizon. `Hours.next_open` and `Hours.next_close` look at most `HORIZON` (8 days)
  ahead and return None beyond it. Bounding the search matters: the library's own
  ``next_change`` scans up to the year 9999 when the state never changes again, which costs
  about half a second per call for an expression such as ``2020 Mo-Fr 08:00-18:00``. The
  window is walked one calendar day at a time because the library's ``intervals()`` and
  ``next_change()`` miss changes for expressions with a fallback rule (``||``), and
  because each day may need its own rewritten expression (see above).
* Normalisation (`normalize`). Full-width digits/letters/punctuation (``：；，－～``),
  dashes ``—``/``–`` and tildes become their ASCII counterparts (``~`` and ``～`` become
  ``-``), Chinese quotes ``“”`` become ``"``, the enumeration comma ``、`` becomes ``,``.
  The text is cut into rules at ``;`` (outside quoted comments). A rule with Chinese
  characters is read as Chinese (below); any other rule is OSM syntax, where runs of
  whitespace collapse to one space and one-digit hours get their zero (``8:00`` →
  ``08:00``). Rules are joined with ``"; "``. Quoted comments are left untouched. The
  result is `Hours.expr`; syntax errors of OSM rules refer to positions in it, errors in
  Chinese rules to positions in the text as typed.
* Chinese forms (`convert` reports whether any conversion happened). Days: ``周一``…``周日``
  (``周天``), ``星期一``…, ``礼拜一``…, ranges with ``至``/``到``/``-`` (``周一至周五``,
  ``周一至五``), lists with ``、``/``，``/``和``/``及`` (``周六、周日``, ``周一、三、五``),
  ``每天``/``每日``/``天天`` and ``全年无休`` (every day, ``Mo-Su``), ``工作日`` (``Mo-Fr``,
  and since a public holiday is not a working day, ``PH off`` is added right after that
  rule unless the text says itself what happens on holidays), ``周末``/``双休日``
  (``Sa,Su``), ``节假日``/``法定节假日``/``法定假日`` (``PH``); OSM day names work too.
  Times: ``8:00``, ``8点``, ``8点半``, ``8点30分``, ``8时30分``, with ``上午``/``早上``,
  ``中午``, ``下午``/``晚上`` (``下午5:30`` is 17:30; an end time without one takes the
  start's: ``下午2:00-5:30`` is 14:00–17:30), ``凌晨``, ``次日`` for a time after midnight
  (``18:00-次日2:00``); ranges with ``-``/``至``/``到``; several ranges with ``、``, ``，``,
  ``和`` or a space (``8:00-12:00、14:00-17:30``); ``全天``, ``24小时`` (optionally
  followed by ``营业``/``开放``). Closed: ``休息``, ``关闭``, ``闭馆``, ``不开放``, ``停业``…
  (``节假日休息`` → ``PH off``). ``节假日照常``/``节假日开放``/``节假日不休息`` mean holidays
  are ordinary days and add nothing. Rules are separated by ``；``, a line break, ``。``,
  or a ``，`` before the next days (``周一至周五 8:00-17:30，周六 9:00-12:00``). A leading
  label such as ``开放时间：`` is ignored. Anything else is an error naming what was not
  understood and where — never a guess: an end time earlier than its start without
  ``次日`` (``8:00-5:30``), days without times (``周一至周五``), a bare ``8-17`` without
  ``:00``/``点``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
import opening_hours
from numpy.typing import NDArray

from geoservice import holidays as _holidays
from geoservice.errors import HoursError, excerpt
from geoservice.i18n import N_

if TYPE_CHECKING:
    from geoservice.responses import OpenStatusFields

__all__ = [
    "HORIZON",
    "INVALID_ZH",
    "MAX_CHARS",
    "TZ",
    "WEEKDAYS_ZH",
    "Hours",
    "HoursError",
    "OpenStatus",
    "as_local",
    "beijing",
    "convert",
    "format_zh",
    "mentions_holidays",
    "normalize",
    "open_mask",
    "parse",
    "parse_time",
    "status",
    "validate",
]

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
"""Time zone of every evaluation and of every returned datetime."""

HORIZON = timedelta(days=8)
"""How far `Hours.next_open` / `Hours.next_close` look ahead."""

MAX_CHARS = 500
"""Longest accepted ``opening_hours`` text (OSM itself allows 255 characters)."""

_DAY = timedelta(days=1)

StateName = Literal["open", "closed", "unknown"]

_STATES: dict[opening_hours.State, StateName] = {
    opening_hours.State.OPEN: "open",
    opening_hours.State.CLOSED: "closed",
    opening_hours.State.UNKNOWN: "unknown",
}

logger = logging.getLogger(__name__)

# The library's stubs (generated by pyo3_stub_gen) leave out the exception it raises.
_ParserError: type[Exception] = opening_hours.ParserError  # type: ignore[attr-defined]

_OSM_WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
#: The weekdays' Chinese names, Monday first (msgids of their translations).
WEEKDAYS_ZH = (
    N_("周一"),
    N_("周二"),
    N_("周三"),
    N_("周四"),
    N_("周五"),
    N_("周六"),
    N_("周日"),
)

# --- normalisation -----------------------------------------------------------------------

# Full-width ASCII block (U+FF01..U+FF5E) to ASCII, plus common spreadsheet punctuation.
# Every mapping is one character to one character, so positions in the translated text are
# positions in the text as typed.
_TRANSLATE: dict[int, int | str] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
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
_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WS_RE = re.compile(r"\s+")
_ONE_DIGIT_HOUR_RE = re.compile(r"(?<![\d:])(\d):(\d\d)")
_PH_RE = re.compile(r"\bPH\b", re.IGNORECASE)

# --- error reporting ---------------------------------------------------------------------

_POSITION_RE = re.compile(r"-->\s*(\d+):(\d+)")
_RULE_NAMES = {
    "EOI": ("end of expression", "结尾"),
    "wday": ("a weekday", "星期（Mo…Su）"),
    "any_rule_separator": ("a rule separator (';', ',' or '||')", "规则分隔符（; , ||）"),
    "normal_rule_separator": ("';'", "分号 ;"),
    "rules_modifier": ("a rule modifier (open, closed, off, unknown)", "open/off/closed/unknown"),
    "timespan": ("a time range", "时间段（如 08:00-18:00）"),
    "timespan_plus": ("a time range", "时间段（如 08:00-18:00）"),
    "time": ("a time", "时间（hh:mm）"),
    "extended_time": ("a time (hh:mm)", "时间（hh:mm）"),
    "hour": ("an hour", "小时"),
    "minute": ("minutes (two digits)", "两位数的分钟"),
    "holiday": ("a holiday (PH, SH)", "节假日（PH、SH）"),
    "always_open": ("'24/7'", "24/7"),
    "small_range_selectors": ("a weekday or time selector", "星期或时间"),
    "week_selector": ("a week selector", "周次（week）"),
    "monthday_range": ("a date range", "日期范围"),
    "month": ("a month", "月份（Jan…Dec）"),
    "year": ("a year", "年份"),
    "variable_date": ("a variable date", "日期"),
    "comment": ("a quoted comment", "带引号的备注"),
}
_EXPECTED_SPLIT_RE = re.compile(r",\s*(?:or\s+)?|\s+or\s+")


def _describe_expected(detail: str) -> tuple[str, str]:
    """Turn a pest error line (``expected wday``) into readable English and Chinese.

    Parameters
    ----------
    detail
        The last line of the library's error text, without its leading ``=``.

    Returns
    -------
    tuple of str
        E.g. ``("expected a weekday", "此处应为星期（Mo…Su）")``.
    """
    en_parts, zh_parts = [], []
    for clause in detail.split("; "):
        words = clause.split(" ", 1)
        if len(words) != 2 or words[0] not in {"expected", "unexpected"}:
            en_parts.append(clause)
            zh_parts.append("语法错误")
            continue
        names = [n.strip() for n in _EXPECTED_SPLIT_RE.split(words[1]) if n.strip()]
        pairs = [_RULE_NAMES.get(n, (n.replace("_", " "), n)) for n in names]
        readable = list(dict.fromkeys(p[0] for p in pairs))
        readable_zh = list(dict.fromkeys(p[1] for p in pairs))
        if len(readable) > 1:
            listed = ", ".join(readable[:-1]) + " or " + readable[-1]
            if words[0] == "expected" and len(readable) > 2:
                listed = "one of " + listed
        else:
            listed = readable[0] if readable else "?"
        en_parts.append(f"{words[0]} {listed}")
        verb = "此处应为" if words[0] == "expected" else "此处不应出现"
        zh_parts.append(verb + "、".join(readable_zh or ["?"]))
    return "; ".join(en_parts), "；".join(zh_parts)


def _error_from_parser(exc: Exception, expr: str) -> HoursError:
    """Build a bilingual `HoursError` from the library's ``ParserError``.

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
    if last.startswith("="):
        en, zh = _describe_expected(last[1:].strip())
    else:
        en, zh = "invalid syntax", "语法错误"
    where = f" at position {position}" if position is not None else ""
    where_zh = f"（第 {position + 1} 个字符）" if position is not None else ""
    msg = (
        f"开放时间格式错误{where_zh}：{zh} / opening_hours syntax error{where} "
        f"({excerpt(expr, 80)}): {en}"
    )
    return HoursError(msg, expr, position)


def _zh_error(raw: str, position: int, zh: str, en: str) -> HoursError:
    """A `HoursError` for Chinese text that cannot be read, at `position` of `raw`."""
    shown = raw[position : position + 8].strip() or "结尾"
    msg = (
        f"开放时间无法识别（第 {position + 1} 个字符「{shown}」）：{zh} / cannot read the "
        f"opening hours at position {position} ({excerpt(raw, 80)}): {en}"
    )
    return HoursError(msg, raw, position)


# --- Chinese forms -----------------------------------------------------------------------

_ZH_TOKEN_RE = re.compile(
    r"""
      (?P<ws>[ \t\f\v]+)
    | (?P<nl>[\r\n。]+)
    | (?P<comment>"[^"]*")
    | (?P<label>(?:开放|营业|服务|办公|值班|工作)时间\s*:?)
    | (?P<allday>(?:24/7|全天候?\s*(?:24\s*小时)?|24\s*小时)(?:营业|开放|服务|值守)?)
    | (?P<same>照常(?:开放|营业|服务)?|正常(?:开放|营业|服务)|不休息?|无休)
    | (?P<off>暂停开放|暂停服务|停止服务|不对外开放|不开放|不营业|休息|关闭|闭馆|闭站|休馆
        |停业|歇业|\b(?:off|closed)\b)
    | (?P<open>开放|营业|服务|开门|办公|值班|\bopen\b)
    | (?P<group>全年无休|每天|每日|天天|全周|工作日|周末|双休日|双休|国家法定节假日|法定节假日
        |法定假日|法定假期|节假日|节日|假日|\bPH\b)
    | (?P<day>(?:周|星期|礼拜)[一二三四五六日天七1-7]|\b(?:Mo|Tu|We|Th|Fr|Sa|Su)\b)
    | (?P<period>上午|早上|早晨|清晨|中午|下午|晚上|傍晚|夜间|夜里|夜晚|凌晨|早|晚)
    | (?P<next>次日|翌日|第二天|隔天)
    | (?P<time>\d{1,2}\s*:\s*\d{2}|\d{1,2}\s*[点时]\s*(?:半|\d{1,2}\s*分?)?)
    | (?P<num>\d{1,2})
    | (?P<zhnum>[一二三四五六日天])
    | (?P<range>-|至|到)
    | (?P<list>,|以及|和|及|与)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_ZH_DAY_INDEX = {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6, "七": 6}
_ZH_DAY_INDEX |= {str(i + 1): i for i in range(7)}
_OSM_DAY_INDEX = {d.lower(): i for i, d in enumerate(_OSM_WEEKDAYS)}
_ZH_GROUPS: dict[str, tuple[frozenset[int], bool]] = {
    "全年无休": (frozenset(range(7)), False),
    "每天": (frozenset(range(7)), False),
    "每日": (frozenset(range(7)), False),
    "天天": (frozenset(range(7)), False),
    "全周": (frozenset(range(7)), False),
    "工作日": (frozenset(range(5)), False),
    "周末": (frozenset({5, 6}), False),
    "双休日": (frozenset({5, 6}), False),
    "双休": (frozenset({5, 6}), False),
}
_PM = {"下午", "晚上", "傍晚", "夜间", "夜里", "夜晚", "晚"}
_NIGHT = {"晚上", "夜间", "夜里", "夜晚", "晚"}
_TIME_RE = re.compile(r"(\d{1,2})\s*(?::\s*(\d{2})|[点时]\s*(?:(半)|(\d{1,2})\s*分?)?)")
_DAY_STARTERS = {"day", "group", "zhnum"}
_TIME_STARTERS = {"time", "num", "period", "next"}
_HINT_ZH = "应为星期（如 周一至周五）、时间（如 8:00-17:30）或「休息」"
_HINT_EN = "expected days (e.g. 周一至周五), a time range (e.g. 8:00-17:30) or 休息 (closed)"


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int  # position in the text as typed


@dataclass
class _ZhRule:
    """One rule read from Chinese text, before it is written in OSM syntax."""

    pos: int
    days: set[int] = field(default_factory=set)
    holidays: bool = False
    workday: bool = False
    spans: list[str] = field(default_factory=list)
    all_day: bool = False
    modifier: str | None = None  # "off", "open" or "same"
    comment: str | None = None

    @property
    def has_days(self) -> bool:
        return bool(self.days) or self.holidays

    @property
    def complete(self) -> bool:
        return bool(self.spans) or self.all_day or self.modifier is not None


@dataclass(frozen=True, slots=True)
class _Time:
    minutes: int  # after resolving 上午/下午…, 0..1440
    bare: bool  # a bare number such as the 8 of "8-17点"
    period: str | None
    next_day: bool
    pos: int


def _clock_hour(hour: int, period: str | None) -> int:
    """The 24-hour clock hour of ``hour`` said with ``period`` (下午 5 → 17, 晚上 12 → 24)."""
    if period in _PM:
        if 1 <= hour < 12:
            return hour + 12
        if hour == 12 and period in _NIGHT:
            return 24
    elif period == "中午" and 1 <= hour <= 3:
        return hour + 12
    elif period == "凌晨" and hour == 12:
        return 0
    return hour


def _osm_days(days: set[int] | frozenset[int], holidays: bool) -> str:
    """``{0..4}, True`` → ``Mo-Fr,PH``; runs of three days or more become ranges."""
    parts = []
    run: list[int] = []
    for d in [*sorted(days), None]:
        if d is not None and run and d == run[-1] + 1:
            run.append(d)
            continue
        if len(run) >= 3:
            parts.append(f"{_OSM_WEEKDAYS[run[0]]}-{_OSM_WEEKDAYS[run[-1]]}")
        else:
            parts.extend(_OSM_WEEKDAYS[x] for x in run)
        run = [] if d is None else [d]
    if holidays:
        parts.append("PH")
    return ",".join(parts)


def _finished(cur: _ZhRule | None, out: list[_ZhRule]) -> _ZhRule | None:
    """Move ``cur`` to ``out`` when it is complete (None then: the next rule starts)."""
    if cur is not None and cur.complete:
        out.append(cur)
        return None
    return cur


class _ZhReader:
    """Reads one rule group (text between ``;``) written in Chinese into OSM rules."""

    def __init__(self, raw: str, chunk: str, offset: int) -> None:
        self.raw = raw
        self.toks: list[_Tok] = []
        i = 0
        while i < len(chunk):
            m = _ZH_TOKEN_RE.match(chunk, i)
            if m is None or m.end() == i:
                if chunk[i] in "()[]【】":
                    raise _zh_error(
                        raw,
                        offset + i,
                        "不支持括号：说明请写在引号里作备注，午休请写成两段时间（如 8:00-12:00、"
                        "13:30-17:30）",
                        'no brackets: put remarks in quotes ("…"), and write a lunch break as '
                        "two ranges (8:00-12:00, 13:30-17:30)",
                    )
                raise _zh_error(raw, offset + i, _HINT_ZH, _HINT_EN)
            kind = m.lastgroup or ""
            if kind != "ws":
                self.toks.append(_Tok(kind, m.group(), offset + i))
            i = m.end()
        self.i = 0

    # -- token helpers --

    def _peek(self, k: int = 0) -> _Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def _joined(self, connector: str, kinds: set[str]) -> _Tok | None:
        """The token after the next one when the next is a ``connector`` ("range", "list")
        and it is of one of ``kinds`` (``至周五``, ``、14:00``); else None."""
        conn, nxt = self._peek(), self._peek(1)
        if conn is not None and conn.kind == connector and nxt is not None and nxt.kind in kinds:
            return nxt
        return None

    def _fail(self, tok: _Tok | None, zh: str, en: str) -> HoursError:
        pos = tok.pos if tok is not None else len(self.raw.rstrip())
        return _zh_error(self.raw, pos, zh, en)

    # -- grammar --

    def rules(self) -> list[_ZhRule]:
        out: list[_ZhRule] = []
        cur: _ZhRule | None = None
        while (tok := self._peek()) is not None:
            kind = tok.kind
            if kind == "label":
                self.i += 1
            elif kind in {"nl", "list"}:
                self.i += 1
                cur = _finished(cur, out)
            elif kind in _DAY_STARTERS:
                cur = self._day_part(tok, _finished(cur, out))
            elif kind == "comment":
                if cur is None or cur.comment is not None:
                    raise self._fail(tok, "备注应跟在时间后面", "a comment belongs after a rule")
                cur.comment = tok.text
                self.i += 1
            else:
                cur = cur or _ZhRule(tok.pos)
                self._hours_part(tok, cur)
        if cur is not None:
            out.append(cur)
        return out

    def _day_part(self, tok: _Tok, cur: _ZhRule | None) -> _ZhRule:
        """Read the days at ``tok`` into the rule being read (a new one if None)."""
        if cur is not None and cur.has_days:
            raise self._fail(
                tok,
                "两组日期之间缺少时间",
                "two sets of days in a row: the first has no hours",
            )
        cur = cur or _ZhRule(tok.pos)
        self._days(cur)
        return cur

    def _hours_part(self, tok: _Tok, cur: _ZhRule) -> None:
        """Read the times, 全天 or open/closed word at ``tok`` into ``cur``."""
        kind = tok.kind
        if kind in _TIME_STARTERS:
            if cur.all_day or cur.modifier is not None:
                raise self._fail(tok, "时间应写在「休息」「全天」等之前", "unexpected time")
            self._spans(cur)
        elif kind == "allday":
            if cur.spans or cur.all_day:
                raise self._fail(tok, "「全天」与时间重复", "全天 (all day) after a time")
            cur.all_day = True
            self.i += 1
        elif kind in {"off", "open", "same"}:
            if cur.modifier is not None:
                raise self._fail(tok, "重复的「开放/休息」", "a second open/closed word")
            cur.modifier = kind
            self.i += 1
        elif kind == "range":
            raise self._fail(tok, "「至」「-」前缺少星期或时间", "a range without a start")
        else:
            raise self._fail(tok, _HINT_ZH, _HINT_EN)

    def _day_index(self, tok: _Tok) -> int:
        text = tok.text
        if tok.kind == "zhnum":
            return _ZH_DAY_INDEX[text]
        if text.lower() in _OSM_DAY_INDEX:
            return _OSM_DAY_INDEX[text.lower()]
        return _ZH_DAY_INDEX[text[-1]]

    def _days(self, rule: _ZhRule) -> None:
        first = True
        while True:
            tok = self._peek()
            assert tok is not None
            if tok.kind == "group":
                self.i += 1
                key = "PH" if tok.text.upper() == "PH" else tok.text
                if key in _ZH_GROUPS:
                    days, _ = _ZH_GROUPS[key]
                    rule.days |= days
                    rule.workday |= key == "工作日"
                else:
                    rule.holidays = True
            elif tok.kind == "day" or (tok.kind == "zhnum" and not first):
                self.i += 1
                start = self._day_index(tok)
                end_tok = self._joined("range", {"day", "zhnum"})
                if end_tok is not None:
                    self.i += 2
                    end = self._day_index(end_tok)
                    span = (end - start) % 7
                    rule.days |= {(start + k) % 7 for k in range(span + 1)}
                else:
                    rule.days.add(start)
            else:
                raise self._fail(tok, "无法识别的星期", "not a day")
            first = False
            if self._joined("list", _DAY_STARTERS) is not None:
                self.i += 1
                continue
            return

    def _time(self) -> _Time:
        period: str | None = None
        next_day = False
        start = self._peek()
        while (tok := self._peek()) is not None and tok.kind in {"period", "next"}:
            if tok.kind == "next":
                next_day = True
            else:
                period = tok.text
            self.i += 1
        tok = self._peek()
        if tok is None or tok.kind not in {"time", "num"}:
            raise self._fail(tok or start, "缺少时间（如 8:00）", "expected a time such as 8:00")
        self.i += 1
        if tok.kind == "num":
            hour, minute, bare = int(tok.text), 0, True
        else:
            m = _TIME_RE.fullmatch(tok.text)
            assert m is not None
            hour = int(m.group(1))
            minute = 30 if m.group(3) else int(m.group(2) or m.group(4) or 0)
            bare = False
        hour = _clock_hour(hour, period)
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise self._fail(tok, f"时间无效「{tok.text}」", f"not a time: {tok.text!r}")
        assert start is not None
        return _Time(hour * 60 + minute, bare, period, next_day, start.pos)

    def _spans(self, rule: _ZhRule) -> None:
        while True:
            start = self._time()
            conn = self._peek()
            if conn is None or conn.kind != "range":
                raise self._fail(
                    conn, "缺少结束时间（如 8:00-17:30）", "expected an end time (8:00-17:30)"
                )
            self.i += 1
            end = self._time()
            rule.spans.append(self._span(start, end))
            conn = self._peek()
            if conn is not None and conn.kind in _TIME_STARTERS:
                continue  # "8:00-12:00 14:00-17:30"
            if self._joined("list", _TIME_STARTERS) is not None:
                self.i += 1
                continue
            return

    def _span(self, start: _Time, end: _Time) -> str:
        if start.bare and end.bare:
            raise _zh_error(
                self.raw,
                start.pos,
                "时间请写成 8:00 或 8点（如 8:00-17:00）",
                "write times as 8:00 or 8点 (e.g. 8:00-17:00)",
            )
        s, e = start.minutes, end.minutes
        if end.period is None and start.period is not None and e < s:
            hour, minute = divmod(e, 60)  # 下午2:00-5:30: the end is in the afternoon too
            e = min(_clock_hour(hour, start.period) * 60 + minute, 24 * 60)
        overnight = end.next_day or end.period == "凌晨"
        if s >= 24 * 60:
            raise _zh_error(
                self.raw, start.pos, "开始时间不能是 24 点", "a range cannot start at 24:00"
            )
        if e == s:
            raise _zh_error(self.raw, end.pos, "开始与结束时间相同", "the range is empty")
        if e < s and e == 0 and not overnight:
            e = 24 * 60  # "20:00-0:00" ends at midnight
        if e < s and not overnight:
            raise _zh_error(
                self.raw,
                end.pos,
                f"结束时间 {e // 60}:{e % 60:02d} 早于开始时间 {s // 60}:{s % 60:02d}；跨夜请写"
                "「次日」（如 18:00-次日2:00），下午请写「下午」或 24 小时制（如 17:30）",
                "the end is before the start; write 次日 for a time after midnight "
                "(18:00-次日2:00) or use the 24-hour clock (17:30)",
            )
        if e > s and end.next_day:
            raise _zh_error(
                self.raw, end.pos, "时间段超过 24 小时", "the range is longer than a day"
            )
        return f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"


def _zh_to_osm(rule: _ZhRule, raw: str) -> str | None:
    """Write one Chinese rule in OSM syntax (None: the rule adds nothing, 节假日照常)."""
    days = _osm_days(rule.days, rule.holidays) if rule.has_days else ""
    only_holidays = rule.holidays and not rule.days
    if rule.modifier in {"same", "open"} and not (rule.spans or rule.all_day):
        if only_holidays:
            return None  # 节假日照常/开放: holidays are ordinary days
        raise _zh_error(
            raw,
            rule.pos,
            "缺少开放时间（如 周六 9:00-12:00，或 全天）",
            "missing the hours (e.g. 周六 9:00-12:00, or 全天 for all day)",
        )
    if rule.modifier == "same":
        rule.modifier = "open"
    if not rule.complete:
        if rule.comment is not None and not rule.has_days:
            raise _zh_error(raw, rule.pos, "只有备注，缺少时间", "a comment without hours")
        raise _zh_error(
            raw,
            rule.pos,
            "缺少开放时间（如 周一至周五 8:00-17:30）",
            "missing the hours (e.g. 周一至周五 8:00-17:30)",
        )
    if rule.all_day:
        times = "24/7" if (not days or days == "Mo-Su") and rule.modifier != "off" else ""
        if times:
            days = ""
        else:
            times = "" if rule.modifier == "off" else "00:00-24:00"
    else:
        times = ",".join(rule.spans)
    parts = [days, times, "off" if rule.modifier == "off" else "", rule.comment or ""]
    return " ".join(p for p in parts if p)


def _split_rules(text: str) -> list[tuple[int, str]]:
    """Cut `text` at ``;`` outside quoted comments: ``(offset, chunk)`` pairs."""
    chunks = []
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            end = text.find('"', i + 1)
            i = len(text) if end < 0 else end + 1
            continue
        if c == ";":
            chunks.append((start, text[start:i]))
            start = i + 1
        i += 1
    chunks.append((start, text[start:]))
    return chunks


@functools.lru_cache(maxsize=4096)
def beijing(at: str | None, *, seconds: bool = False) -> str:
    """A stored moment (ISO 8601; UTC when it names no zone) as 北京时间 text for people,
    ``2026-12-05 18:04`` (``seconds``: ``18:04:05``); "" for none, the text itself when it
    is not a moment."""
    if not at:
        return ""
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        return str(at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


@functools.lru_cache(maxsize=4096)
def mentions_holidays(osm: str) -> bool:
    """Whether an OSM expression has a holiday rule (``PH`` outside "quoted comments"):
    without one, public holidays count as ordinary days."""
    return bool(_PH_RE.search(_COMMENT_RE.sub("", osm)))


@functools.lru_cache(maxsize=4096)
def _normalize_str(raw: str) -> str:
    """Normalise a string (cached); see `normalize`."""
    text = raw.translate(_QUOTES)
    pieces = _COMMENT_RE.split(text)
    for i in range(0, len(pieces), 2):  # even indices are outside quoted comments
        pieces[i] = pieces[i].translate(_TRANSLATE)
    text = "".join(pieces)  # same length as `raw`
    rules: list[str] = []
    workday_at: int | None = None
    mentions_holidays = False
    chinese = False
    for offset, chunk in _split_rules(text):
        bare = _COMMENT_RE.sub("", chunk)
        if not _HAN_RE.search(bare):
            mentions_holidays |= bool(_PH_RE.search(bare))
            pieces = _COMMENT_RE.split(chunk)
            for i in range(0, len(pieces), 2):
                piece = _ONE_DIGIT_HOUR_RE.sub(r"0\1:\2", pieces[i])
                pieces[i] = _WS_RE.sub(" ", piece)
            rules.append("".join(pieces).strip())
            continue
        chinese = True
        for rule in _ZhReader(raw, chunk, offset).rules():
            mentions_holidays |= rule.holidays
            osm = _zh_to_osm(rule, raw)
            if osm is not None:
                rules.append(osm)
                if rule.workday:
                    workday_at = len(rules)
    if workday_at is not None and not mentions_holidays:
        rules.insert(workday_at, "PH off")  # 工作日: a public holiday is not a working day
    if chinese and not any(rules):
        raise _zh_error(raw, 0, "缺少开放时间", "no hours in the text")
    return "; ".join(rules).strip()


def normalize(expr: str) -> str:
    """Normalise a spreadsheet spelling of opening hours into OSM syntax.

    Parameters
    ----------
    expr
        Opening hours as typed in a spreadsheet, e.g. ``"Mo-Fr 08：00～18：00"`` (full-width
        punctuation), ``"全天"`` or ``"周一至周五 8:00-17:30；节假日休息"``.

    Returns
    -------
    str
        The normalised expression (not validated by the library). See the module docstring
        for the rules.

    Raises
    ------
    HoursError
        If `expr` is not a string, is empty/blank, longer than `MAX_CHARS`, or is Chinese
        text that cannot be read (with the position in `expr`).
    """
    if not isinstance(expr, str):
        msg = (
            f"开放时间应为文字 / opening_hours must be a string, got {type(expr).__name__}: "
            f"{excerpt(expr)}"
        )
        raise HoursError(msg, excerpt(expr))
    if len(expr) > MAX_CHARS:
        msg = (
            f"开放时间过长（{len(expr)} 字，上限 {MAX_CHARS}）/ opening_hours is longer than "
            f"{MAX_CHARS} characters ({len(expr)})"
        )
        raise HoursError(msg, excerpt(expr))
    norm = _normalize_str(expr)
    if not norm:
        # The library itself would accept "  " as 24/7: reject blank input explicitly.
        msg = f"开放时间为空 / opening_hours expression is empty ({excerpt(expr)})"
        raise HoursError(msg, norm)
    return norm


def convert(text: str) -> tuple[str, bool]:
    """The OSM form of opening hours as typed, and whether it had to be converted.

    Parameters
    ----------
    text
        A spreadsheet cell: OSM syntax or one of the Chinese forms (module docstring).

    Returns
    -------
    osm : str
        The validated OSM expression (what is stored).
    changed : bool
        True when `osm` differs from `text` other than by whitespace (Chinese forms,
        full-width punctuation, ``8:00`` → ``08:00``): an import reports these cells.

    Raises
    ------
    HoursError
        As `validate`.

    Examples
    --------
    >>> convert("周一至周五 8:00-17:30")
    ('Mo-Fr 08:00-17:30', True)
    >>> convert("Mo-Fr 08:00-17:30")
    ('Mo-Fr 08:00-17:30', False)
    """
    osm = validate(text)
    return osm, _WS_RE.sub("", osm) != _WS_RE.sub("", text)


def _compile(norm: str) -> opening_hours.OpeningHours:
    """Parse a normalised expression with the library, translating its errors."""
    try:
        return opening_hours.OpeningHours(norm)
    except _ParserError as exc:
        raise _error_from_parser(exc, norm) from None


@functools.lru_cache(maxsize=8192)
def _compile_variant(expr: str) -> opening_hours.OpeningHours:
    """Parse a rewritten expression (see `_Template`), cached."""
    return opening_hours.OpeningHours(expr)


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


# --- Chinese display ---------------------------------------------------------------------

_WD = "Mo|Tu|We|Th|Fr|Sa|Su"
_FMT_ITEM = rf"(?:(?:{_WD})(?:-(?:{_WD})|\[-?\d+(?:,-?\d+)*\])?|PH|SH)"
_FMT_ITEM_RE = re.compile(_FMT_ITEM, re.IGNORECASE)
_FMT_SPAN = r"\d{2}:\d{2}(?:-\d{2}:\d{2}\+?|\+)"
_FMT_RULE_RE = re.compile(
    rf"""^
    (?:(?P<days>{_FMT_ITEM}(?:,\s*{_FMT_ITEM})*)(?:\s+|$))?
    (?:(?P<times>24/7|{_FMT_SPAN}(?:,\s*{_FMT_SPAN})*)(?:\s+|$))?
    (?:(?P<mod>open|closed|off|unknown)(?:\s+|$))?
    (?P<comment>"[^"]*")?
    $""",
    re.VERBOSE | re.IGNORECASE,
)
_ADDITIONAL_RE = re.compile(rf",\s*(?=(?:{_WD}|PH|SH)\b)", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FALLBACK_RE = re.compile(
    rf"""
      (?P<comment>"[^"]*")
    | (?P<span>\d{{1,2}}:\d{{2}}-\d{{1,2}}:\d{{2}})
    | (?P<nth>\b(?:{_WD})\[-?\d+(?:,-?\d+)*\])
    | (?P<wdrange>\b(?:{_WD})-(?:{_WD})\b)
    | (?P<wd>\b(?:{_WD})\b)
    | (?P<monthday>\b(?:{"|".join(_MONTHS)})\s*(?P<mday>\d{{1,2}})\b(?!:))
    | (?P<month>\b(?:{"|".join(_MONTHS)})\b)
    | (?P<word>\b(?:PH|SH|off|closed|open|unknown|week|sunrise|sunset|dawn|dusk|easter)\b)
    | (?P<always>24/7)
    | (?P<fallback>\|\|)
    | (?P<semicolon>;)
    | (?P<rulesep>,\s+)
    | (?P<comma>,)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_WORDS_ZH = {
    "ph": "法定节假日",
    "sh": "学校假期",
    "off": "休息",
    "closed": "休息",
    "open": "开放",
    "unknown": "时间不定",
    "week": "周次",
    "sunrise": "日出",
    "sunset": "日落",
    "dawn": "黎明",
    "dusk": "黄昏",
    "easter": "复活节",
}


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span_zh(span: str) -> str:
    """``18:00-02:00`` → ``18:00–次日02:00``; ``00:00-24:00`` → ``全天``."""
    if span.endswith("+") and "-" not in span:
        return f"{span[:-1]}起"
    open_end = span.endswith("+")
    start, end = span.rstrip("+").split("-")
    s, e = _minutes(start), _minutes(end)
    if s == 0 and e == 24 * 60:
        text = "全天"
    elif e > 24 * 60:
        text = f"{start}–次日{_clock(e - 24 * 60)}"
    elif e <= s:
        text = f"{start}–次日{end}"
    else:
        text = f"{start}–{end}"
    return text + ("（之后时间不定）" if open_end else "")


def _nth_zh(item: str) -> str:
    """``Mo[1]`` → ``每月第1个周一``; ``Su[-1]`` → ``每月最后一个周日``."""
    day, nth = item.rstrip("]").split("[")
    which = []
    for n in nth.split(","):
        k = int(n)
        which.append(f"第{k}个" if k > 0 else ("最后一个" if k == -1 else f"倒数第{-k}个"))
    return f"每月{'、'.join(which)}{WEEKDAYS_ZH[_OSM_DAY_INDEX[day.lower()]]}"


def _days_zh(days: str) -> str:
    """``Mo-Fr`` → ``周一至周五``; ``Sa,Su,PH`` → ``周六、周日及法定节假日``."""
    weekdays, holidays = [], []
    for item in _FMT_ITEM_RE.findall(days):
        key = item.lower()
        if key in {"ph", "sh"}:
            holidays.append(_WORDS_ZH[key])
        elif "[" in item:
            weekdays.append(_nth_zh(item))
        elif "-" in item:
            a, b = (_OSM_DAY_INDEX[x.lower()] for x in item.split("-"))
            length = (b - a) % 7
            if length == 6:
                weekdays.append("每天")
            elif length == 1:
                weekdays.append(f"{WEEKDAYS_ZH[a]}、{WEEKDAYS_ZH[b]}")
            else:
                weekdays.append(f"{WEEKDAYS_ZH[a]}至{WEEKDAYS_ZH[b]}")
        else:
            weekdays.append(WEEKDAYS_ZH[_OSM_DAY_INDEX[key]])
    text = "、".join(weekdays)
    if holidays:
        text += ("及" if text else "") + "及".join(holidays)
    return text


def _rule_zh(rule: str) -> str:
    """One OSM rule in Chinese (the common forms), or the token-wise fallback."""
    m = _FMT_RULE_RE.match(rule.strip())
    if m is None or not any(m.group(g) for g in ("days", "times", "mod")):
        parts = _ADDITIONAL_RE.split(rule.strip())  # "Mo-Fr 08:00-12:00, Sa 10:00-12:00"
        if len(parts) > 1 and all(_FMT_RULE_RE.match(p) for p in parts):
            return "，".join(_rule_zh(p) for p in parts)
        return _fallback_zh(rule)
    days = _days_zh(m.group("days")) if m.group("days") else ""
    times_raw = m.group("times")
    mod = (m.group("mod") or "").lower()
    comment = m.group("comment")
    note = f"（{comment[1:-1]}）" if comment and comment[1:-1].strip() else ""
    if times_raw and times_raw == "24/7":
        if mod in {"off", "closed"}:
            text = f"{days}休息" if days else "不开放"
        elif mod == "unknown":
            text = "营业时间不定"
        else:
            text = f"{days} 24小时开放" if days else "24小时开放"
        return text + note
    times = "、".join(_span_zh(s) for s in re.split(r",\s*", times_raw)) if times_raw else ""
    if mod in {"off", "closed"}:
        if not days and not times:
            return "不开放" + note
        return f"{' '.join(p for p in (days or '每天', times) if p)}休息{note}"
    if mod == "unknown":
        return " ".join(p for p in (days, times, "时间不定") if p) + note
    if not times:
        return f"{days} 全天{note}"
    return f"{days or '每天'} {times}{note}"


def _fallback_zh(rule: str) -> str:
    """Translate the words of a rule this module does not render as a sentence."""

    def word(m: re.Match) -> str:
        kind = m.lastgroup
        text = m.group()
        if kind == "comment":
            return f"（{text[1:-1]}）"
        if kind == "span":
            return _span_zh(text)
        if kind in {"wdrange", "nth"}:
            return _days_zh(text)
        if kind == "wd":
            return WEEKDAYS_ZH[_OSM_DAY_INDEX[text.lower()]]
        if kind == "monthday":
            month = _MONTHS.index(text[:3].lower()) + 1
            return f"{month}月{int(m.group('mday'))}日"
        if kind == "month":
            return f"{_MONTHS.index(text.lower()) + 1}月"
        if kind == "always":
            return "24小时开放"
        if kind == "fallback":
            return "；否则"
        if kind == "semicolon":
            return "；"
        if kind == "rulesep":
            return "，"
        if kind == "comma":
            return "、"
        return _WORDS_ZH[text.lower()]

    return _FALLBACK_RE.sub(word, rule).strip()


@functools.lru_cache(maxsize=4096)
def _format_zh(expr: str) -> str:
    if expr == "24/7":
        return "24小时开放"
    out = []
    for _offset, chunk in _split_rules(expr):
        if not chunk.strip():
            continue
        fallback_parts = _split_fallback(chunk)
        texts = [_rule_zh(part) for part in fallback_parts]
        out.append("；其余时间：".join(texts))
    return "；".join(out)


def _split_fallback(chunk: str) -> list[str]:
    """Cut a rule at ``||`` (fallback rules) outside quoted comments."""
    parts = []
    pieces = _COMMENT_RE.split(chunk)
    current = ""
    for i, piece in enumerate(pieces):
        if i % 2:
            current += piece
            continue
        bits = piece.split("||")
        current += bits[0]
        for bit in bits[1:]:
            parts.append(current)
            current = bit
    parts.append(current)
    return [p.strip() for p in parts]


def format_zh(expr: str | Hours) -> str:
    """Opening hours in readable Chinese.

    Parameters
    ----------
    expr
        A valid expression (or `Hours`); it is normalised first, so the Chinese forms of
        `normalize` work too.

    Returns
    -------
    str
        Rules joined by ``；``: ``Mo-Fr 08:00-17:30; PH off`` → ``周一至周五 08:00–17:30；
        法定节假日休息``; ``24/7`` → ``24小时开放``; ``Mo-Su 07:00-11:30,13:30-20:00`` →
        ``每天 07:00–11:30、13:30–20:00``; ``Mo-Su 18:00-02:00`` → ``每天 18:00–次日02:00``;
        ``Sa,Su off`` → ``周六、周日休息``; quoted comments in ``（）``. Rules with date,
        week, month or year selectors are shown word by word with their days, months and
        keywords translated (``Jan-Mar Mo-Fr 08:00-18:00`` → ``1月-3月 周一至周五
        08:00–18:00``).

    Raises
    ------
    HoursError
        If `expr` is not valid (use `status` for a value that may be invalid).
    """
    return _format_zh(parse(expr).expr)


# --- the holiday calendar in an expression ------------------------------------------------

_OFFSET = r"\s+[+-]\s*\d+\s+days?"
_SEL_ITEM = (
    rf"(?:\b(?:{_WD})\b(?:\s*\[[^\]]*\](?:{_OFFSET})?|\s*-\s*\b(?:{_WD})\b)?"
    rf"|\b(?:PH|SH)\b(?:{_OFFSET})?)"
)
_SEL_ITEM_RE = re.compile(_SEL_ITEM, re.IGNORECASE)
_SEL_RUN_RE = re.compile(rf"{_SEL_ITEM}(?:(?:\s*,\s*|\s+){_SEL_ITEM})*", re.IGNORECASE)
_HOLIDAY_ITEM_RE = re.compile(r"^(PH|SH)(?:\s+([+-])\s*(\d+)\s+days?)?$", re.IGNORECASE)
_NEVER = "PH"  # matches no day: expressions are parsed without the library's calendar


@dataclass(frozen=True, slots=True)
class _Selector:
    """A weekday selector of an expression (``Mo-Fr``, ``Sa,Su,PH``, ``PH +1 day``).

    Attributes
    ----------
    weekdays : frozenset of int
        The plain weekdays it selects (0 = Monday).
    nth : tuple of str
        ``Mo[1]``-style items, kept as written (they follow the real date).
    holiday_offsets : tuple of int
        One entry per ``PH`` item: 0, or n for ``PH +n days`` (the day n days after a day
        off), -n for ``PH -n days``. ``SH`` items never match and are dropped.
    """

    weekdays: frozenset[int]
    nth: tuple[str, ...]
    holiday_offsets: tuple[int, ...]

    def render(self, days: tuple[date, date], calendar: _holidays.Calendar) -> str:
        """The explicit real weekdays among `days` that this selector selects."""
        names = []
        for d in days:
            role = 0 if d in calendar.workdays else d.weekday()  # a make-up day is a Monday
            if role in self.weekdays or any(
                d - timedelta(days=k) in calendar.off for k in self.holiday_offsets
            ):
                names.append(_OSM_WEEKDAYS[d.weekday()])
        names.extend(self.nth)
        return ",".join(names) or _NEVER


def _selector(run: str) -> _Selector:
    weekdays: set[int] = set()
    nth: list[str] = []
    offsets: list[int] = []
    for m in _SEL_ITEM_RE.finditer(run):
        item = m.group()
        hol = _HOLIDAY_ITEM_RE.match(item)
        if hol:
            if hol.group(1).upper() == "PH":
                k = int(hol.group(3) or 0)
                offsets.append(-k if hol.group(2) == "-" else k)
        elif "[" in item:
            nth.append(re.sub(r"\s+", " ", item))
        elif "-" in item:
            a, b = (_OSM_DAY_INDEX[x.strip().lower()] for x in item.split("-"))
            weekdays |= {(a + k) % 7 for k in range((b - a) % 7 + 1)}
        else:
            weekdays.add(_OSM_DAY_INDEX[item.lower()])
    return _Selector(frozenset(weekdays), tuple(nth), tuple(offsets))


class _Template:
    """An expression cut into literal text and weekday selectors, to be rewritten per day.

    See "Public holidays and make-up working days" in the module docstring.
    """

    def __init__(self, pieces: list[str | _Selector]) -> None:
        self.pieces = pieces
        selectors = [p for p in pieces if isinstance(p, _Selector)]
        self.has_weekdays = any(s.weekdays for s in selectors)
        self.offsets = frozenset(k for s in selectors for k in s.holiday_offsets)
        self._memo: dict[tuple[int, date], opening_hours.OpeningHours | None] = {}

    @classmethod
    def of(cls, expr: str) -> _Template | None:
        """The template of a normalised expression; None if it has no weekday selector."""
        pieces: list[str | _Selector] = []
        found = False
        for i, part in enumerate(_COMMENT_RE.split(expr)):
            if i % 2:
                pieces.append(part)
                continue
            last = 0
            for m in _SEL_RUN_RE.finditer(part):
                pieces.append(part[last : m.start()])
                pieces.append(_selector(m.group()))
                last = m.end()
                found = True
            pieces.append(part[last:])
        return cls(pieces) if found else None

    def _special(self, days: tuple[date, date], calendar: _holidays.Calendar) -> bool:
        if self.has_weekdays and any(d in calendar.workdays for d in days):
            return True
        return any(d - timedelta(days=k) in calendar.off for d in days for k in self.offsets)

    def on(self, day: date, calendar: _holidays.Calendar) -> opening_hours.OpeningHours | None:
        """The expression to evaluate moments of `day` with, or None for the plain one."""
        key = (calendar.version, day)
        try:
            return self._memo[key]
        except KeyError:
            pass
        try:
            days = (day - _DAY, day)
            special = self._special(days, calendar)
        except OverflowError:  # the first or last representable day
            special = False
        result = None
        if special:
            text = "".join(
                p.render(days, calendar) if isinstance(p, _Selector) else p for p in self.pieces
            )
            try:
                result = _compile_variant(text)
            except _ParserError:  # never expected: keep answering, say so
                logger.warning(
                    "cannot parse %r, the rewrite for %s; using the plain form", text, day
                )
        if len(self._memo) > 512:
            self._memo.clear()
        self._memo[key] = result
        return result


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
    _template: _Template | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        norm = normalize(self.expr)
        oh = _compile(norm)
        object.__setattr__(self, "expr", norm)
        object.__setattr__(self, "_oh", oh)
        object.__setattr__(self, "_always_open", str(oh.normalize()) == "24/7")
        object.__setattr__(self, "_template", _Template.of(norm))

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # The library's OpeningHours object cannot be pickled; re-parse instead.
        return (parse, (self.expr,))

    def __str__(self) -> str:
        return self.expr

    @property
    def is_always_open(self) -> bool:
        """Whether the expression is open around the clock, every day.

        Decided structurally with the library's normaliser (``Mo-Su 00:00-24:00`` and
        ``00:00-12:00,12:00-24:00`` count; ``24/7; PH off`` and ``24/7 "comment"`` do not).
        """
        return self._always_open

    def _on(self, day: date) -> opening_hours.OpeningHours:
        """The library object that evaluates moments of calendar day `day` (see the module
        docstring: the expression rewritten for a day off or a make-up day nearby)."""
        if self._template is None:
            return self._oh
        return self._template.on(day, _holidays.current()) or self._oh

    def _is_open(self, local: datetime) -> bool:
        return self._on(local.date()).is_open(local)

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
        local = _local(at)
        return _STATES[self._on(local.date()).state(local)[0]]

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
        return self._is_open(_local(at))

    def _intervals(self, local: datetime) -> Iterator[tuple[datetime, bool]]:
        """Yield ``(start, is_open)`` of state intervals over ``[local, local + HORIZON)``.

        The library's ``intervals()`` (and ``next_change()``) can miss every change after
        the first closed stretch when the expression has a fallback rule (``||``), e.g.
        ``Mo-Fr 08:00-18:00 || unknown`` reports "closed" from Wednesday 18:00 onwards
        although ``state()`` is "open" on Thursday 09:00. Restarting the iterator at every
        midnight gives results that agree with ``state()``, so the window is walked one
        calendar day at a time, each day with its own expression (see `_on`). Starts are
        naive Shanghai wall times.
        """
        end = _horizon_end(local)
        chunk_start = local
        while chunk_start < end:
            chunk_end = end
            if chunk_start.date() < date.max:
                chunk_end = min(datetime.combine(chunk_start.date() + _DAY, time()), end)
            oh = self._on(chunk_start.date())
            for start, _end, state, _comment in oh.intervals(chunk_start, chunk_end):
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
            ``"营业状态未知"`` for the "unknown" state. When a station whose hours mention
            ``PH`` is closed on a day off, the holiday is named: ``"已关闭 · 国庆节放假 ·
            10月8日 08:00 开放"``, ``"已关闭 · 春节放假"``.
        """
        if self._always_open:
            return "24小时开放"
        local = _local(at)
        state = _STATES[self._on(local.date()).state(local)[0]]
        if state == "unknown":
            return "营业状态未知"
        if state == "open":
            close = self._next_close(local)
            return "营业中" if close is None else f"营业中 · {_when_zh(local, close, True)} 关闭"
        text = "已关闭"
        if self._template is not None and self._template.offsets:
            day = _holidays.current().get(local.date())
            if day is not None and day.type == "off":
                text += f" · {day.name}放假"
        opens = self._next_open(local)
        return text if opens is None else f"{text} · {_when_zh(local, opens, False)} 开放"


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
        return f"{WEEKDAYS_ZH[when.weekday()]} {hhmm}"
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


_CACHE_MINUTES = 4  # minutes kept by the per-minute caches of open_mask and status


@dataclass
class _MinuteCache:
    """What is known at one minute: open states by stored value (None for an invalid value,
    see `open_mask`) and `OpenStatus` by normalised expression (see `status`)."""

    open: dict[object, bool | None] = field(default_factory=dict)
    status: dict[str, OpenStatus] = field(default_factory=dict)


_CACHE: OrderedDict[tuple[datetime, int], _MinuteCache] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _minute_cache(minute: datetime) -> _MinuteCache:
    """The cache of `minute` under the calendar in force."""
    key = (minute, _holidays.current().version)
    with _CACHE_LOCK:
        cache = _CACHE.get(key)
        if cache is None or len(cache.open) + len(cache.status) > 100_000:
            cache = _CACHE[key] = _MinuteCache()
            while len(_CACHE) > _CACHE_MINUTES:
                _CACHE.popitem(last=False)
        return cache


def _open_or_none(expr: object, local: datetime) -> bool | None:
    try:
        # Any stored value: parse raises HoursError for what is not a string.
        return parse(expr)._is_open(local)  # type: ignore[arg-type]
    except HoursError:
        return None


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
        Expressions (or `Hours`), e.g. a column of a stations table. Each distinct value
        is evaluated once per minute (hours have minute resolution): the result is cached
        for the last few minutes, so concurrent requests share it.
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
    minute = local.replace(second=0, microsecond=0)
    cache = _minute_cache(minute).open
    items = list(exprs)  # one set of objects for both passes (NaN is found by identity)
    try:
        distinct = dict.fromkeys(items)
    except TypeError:  # an unhashable entry (a list, say): evaluate one by one
        values = [_open_or_none(e, minute) for e in items]
        bad = [i for i, v in enumerate(values) if v is None]
        if on_error == "raise" and bad:
            parse(items[bad[0]])  # raises the first invalid entry's error
        return np.array([v is True for v in values], dtype=bool)
    for expr in distinct:
        if expr not in cache:
            cache[expr] = _open_or_none(expr, minute)
        if on_error == "raise" and cache[expr] is None:
            parse(expr)  # raises this entry's error
    return np.array(list(map(cache.__getitem__, items)), dtype=bool)


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

    def to_dict(self) -> OpenStatusFields:
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
        h = parse(expr)  # type: ignore[arg-type]  # any value: HoursError unless a string
    except HoursError:
        return OpenStatus(False, False, INVALID_ZH, INVALID_ZH, None)
    local = _local(at)
    minute = local.replace(second=0, microsecond=0)
    cache = _minute_cache(minute).status
    found = cache.get(h.expr)  # the state, texts and next opening are the same all minute
    if found is None:
        is_open = h._is_open(minute)
        nxt = None if is_open else h._next_open(minute)
        found = cache[h.expr] = OpenStatus(
            valid=True,
            open=is_open,
            text_zh=h.describe_zh(minute),
            hours_zh=_format_zh(h.expr),
            next_open=None if nxt is None else _aware(nxt),
        )
    if found.open:
        return dataclasses.replace(found, next_open=_aware(local))
    return found
