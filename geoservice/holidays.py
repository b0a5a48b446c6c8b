"""China's public holidays and make-up working days (调休), as the State Council announces them.

Every year the General Office of the State Council publishes a notice (国务院办公厅关于 YYYY 年
部分节假日安排的通知, numbered 国办发明电〔…〕N号) that lists, festival by festival, the days
off (放假) and the weekend days that become working days (调休上班). No formula gives these
dates, so they are kept as a dated table:

* ``data/holidays/cn.csv`` ships the arrangements of 2024, 2025 and 2026 (sources and the
  cross-checks in ``data/SOURCES.md``);
* ``flask --app app hours holidays import FILE`` adds a year (or corrects one): the file is
  validated (see `read_table`), then saved as ``<instance>/holidays/cn-YYYY.csv``, one file per
  year; a year found there replaces that year of the shipped table as a whole.

Columns (Chinese headers are accepted too): ``date`` (2027-01-01), ``type`` (``off`` = 放假,
``workday`` = 调休上班), ``name`` (元旦, 春节, …), ``notice`` (国办发明电〔2026〕N号),
``published`` (the notice's date, optional), ``url`` (the notice on www.gov.cn, optional).

The arrangement year of a row is its date's year, except New Year (元旦) rows dated from
25 December on, which belong to the next year's notice (as in 2023, whose New Year break
began on 2022-12-31).

The calendar in force is process-wide state: `current` returns it (the shipped table until
`configure` is called, which the web app does at creation with its instance folder), `reset`
goes back to the shipped table and `set_current` installs any `Calendar` (both for tests).
A configured folder is looked at again at most every `RECHECK_SECONDS`, so a year imported
by the command line reaches a running server without a restart. Years that no table covers
are *unknown*: no day of them is a day off or a make-up working day (see `Calendar.covers`).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from geoservice.errors import HolidayFileError, excerpt

__all__ = [
    "COLUMNS",
    "SHIPPED",
    "Calendar",
    "CurrentCalendar",
    "HolidayDay",
    "HolidayFileError",
    "ImportSummary",
    "configure",
    "current",
    "directory",
    "import_file",
    "read_table",
    "reset",
    "set_current",
]

logger = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "holidays" / "cn.csv"
"""The shipped table (2024–2026)."""

COLUMNS = ("date", "type", "name", "notice", "published", "url")
"""Columns of a holiday table, in the order they are written."""

RECHECK_SECONDS = 30.0
"""How often `current` looks for changed files in the configured folder."""

MAX_BYTES = 1_000_000
MAX_ROWS = 2_000
_MAX_TEXT = {"name": 30, "notice": 80, "url": 300}

DayType = Literal["off", "workday"]

_HEADER_ALIASES = {
    "date": ("date", "日期"),
    "type": ("type", "类型", "安排"),
    "name": ("name", "名称", "节日", "节假日"),
    "notice": ("notice", "文号", "通知", "通知文号"),
    "published": ("published", "发布日期", "发文日期"),
    "url": ("url", "网址", "链接", "来源"),
}
_REQUIRED = ("date", "type", "name", "notice")
_TYPE_ALIASES: dict[str, DayType] = {
    "off": "off",
    "holiday": "off",
    "休": "off",
    "休息": "off",
    "放假": "off",
    "workday": "workday",
    "work": "workday",
    "班": "workday",
    "上班": "workday",
    "补班": "workday",
    "调休上班": "workday",
}
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_VERSION = itertools.count(1)


@dataclass(frozen=True, slots=True)
class HolidayDay:
    """One dated row of a holiday arrangement.

    Attributes
    ----------
    day : datetime.date
    type : {"off", "workday"}
        ``off`` = a day off (放假); ``workday`` = a weekend day worked instead (调休上班).
    name : str
        The festival, in Chinese (``春节``).
    notice : str
        The State Council notice (``国办发明电〔2025〕7号``).
    published : datetime.date or None
        The notice's date.
    url : str
        The notice on www.gov.cn (may be empty).
    year : int
        The arrangement year (see the module docstring).
    """

    day: date
    type: DayType
    name: str
    notice: str
    published: date | None
    url: str
    year: int


class Calendar:
    """A set of holiday arrangements: which dates are days off and which are make-up days.

    Parameters
    ----------
    days
        The rows; at most one per date.
    origin
        Where each arrangement year came from (shown by ``hours holidays list``).

    Attributes
    ----------
    off : frozenset of datetime.date
        Every day off.
    workdays : frozenset of datetime.date
        Every make-up working day.
    years : frozenset of int
        The arrangement years covered.
    version : int
        Unique per calendar object: evaluation caches are keyed on it.
    """

    def __init__(self, days: Iterable[HolidayDay], origin: dict[int, str] | None = None) -> None:
        self._days = {d.day: d for d in days}
        self.off = frozenset(d for d, row in self._days.items() if row.type == "off")
        self.workdays = frozenset(d for d, row in self._days.items() if row.type == "workday")
        self.years = frozenset(row.year for row in self._days.values())
        self.origin = dict(origin or {})
        self.version = next(_VERSION)

    def __len__(self) -> int:
        return len(self._days)

    def __repr__(self) -> str:
        years = ", ".join(str(y) for y in sorted(self.years)) or "none"
        return f"Calendar(years={years}, off={len(self.off)}, workdays={len(self.workdays)})"

    def kind(self, day: date) -> DayType | None:
        """``"off"``, ``"workday"`` (make-up working day) or None for an ordinary day."""
        row = self._days.get(day)
        return None if row is None else row.type

    def get(self, day: date) -> HolidayDay | None:
        """The row of `day`, or None."""
        return self._days.get(day)

    def covers(self, day: date) -> bool:
        """Whether `day`'s calendar year has an arrangement in this calendar.

        Outside the covered years holidays are unknown: ``PH`` never matches and no day is
        a make-up working day.
        """
        return day.year in self.years

    def rows(self, year: int | None = None) -> list[HolidayDay]:
        """The rows (of one arrangement year), in date order."""
        return sorted(
            (r for r in self._days.values() if year is None or r.year == year),
            key=lambda r: r.day,
        )

    def is_day_off(self, day: date) -> bool:
        """Whether nobody works on `day`: a day off, or a weekend day that is not a
        make-up working day (the interface of the tour planner's calendars)."""
        kind = self.kind(day)
        if kind is not None:
            return kind == "off"
        return day.weekday() >= 5

    def is_workday(self, day: date) -> bool:
        """Whether `day` is a working day (Monday to Friday unless off, or a make-up day)."""
        return not self.is_day_off(day)

    def merged(self, other: Calendar) -> Calendar:
        """This calendar with every arrangement year of `other` replacing its own."""
        kept = [r for r in self._days.values() if r.year not in other.years]
        origin = {y: o for y, o in self.origin.items() if y not in other.years}
        origin.update(other.origin)
        return Calendar(kept + list(other._days.values()), origin)


# --- reading and validating ------------------------------------------------------------------


def _parse_date(text: str) -> date | None:
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _arrangement_year(day: date, name: str) -> int:
    if day.month == 12 and day.day >= 25 and "元旦" in name:
        return day.year + 1
    return day.year


def _decode(raw: bytes, path: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    msg = "文件编码无法识别（应为 UTF-8 或 GBK）/ the file is neither UTF-8 nor GBK"
    raise HolidayFileError([msg], path)


def _header_map(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Canonical column → index, and the problems with the header."""
    lookup = {
        alias.replace(" ", "").lower(): canon
        for canon, aliases in _HEADER_ALIASES.items()
        for alias in aliases
    }
    found: dict[str, int] = {}
    problems = []
    for i, cell in enumerate(header):
        canon = lookup.get(cell.strip().replace(" ", "").lower())
        if canon is None:
            continue
        if canon in found:
            problems.append(
                f"第 1 行：列「{cell.strip()}」重复 / column {cell.strip()!r} appears twice"
            )
        found[canon] = i
    missing = [c for c in _REQUIRED if c not in found]
    if missing:
        problems.append(
            f"第 1 行：缺少列 {'、'.join(missing)}（需要 {', '.join(COLUMNS)}）/ missing "
            f"column(s) {', '.join(missing)}; the columns are {', '.join(COLUMNS)}"
        )
    return found, problems


def _completeness(rows: list[HolidayDay]) -> list[str]:
    """Problems with arrangement years that look incomplete."""
    problems = []
    for year in sorted({r.year for r in rows}):
        off = {r.day for r in rows if r.year == year and r.type == "off"}
        for month, day, name in ((1, 1, "元旦"), (5, 1, "劳动节"), (10, 1, "国庆节")):
            if date(year, month, day) not in off:
                problems.append(
                    f"{year} 年：{month} 月 {day} 日（{name}）不是放假日，这一年的安排不完整 / "
                    f"{year}: {year}-{month:02d}-{day:02d} ({name}) is not a day off; the "
                    "year's arrangement is incomplete"
                )
        spring = [date(year, 1, 20) + timedelta(days=i) for i in range(37)]  # Jan 20 – Feb 25
        longest = run = 0
        for d in spring:
            run = run + 1 if d in off else 0
            longest = max(longest, run)
        if longest < 3:
            problems.append(
                f"{year} 年：1 月 20 日至 2 月 25 日之间没有连续 3 天以上的春节假期 / {year}: no "
                "Spring Festival break (3 or more days off in a row between Jan 20 and Feb 25)"
            )
        if len(off) < 11:
            problems.append(
                f"{year} 年：只有 {len(off)} 个放假日（法定节假日至少 11 天）/ {year}: only "
                f"{len(off)} days off (the statutory holidays alone are at least 11)"
            )
    return problems


def read_table(path: str | Path) -> list[HolidayDay]:
    """Read and validate a holiday table (CSV, UTF-8 or GBK).

    Parameters
    ----------
    path
        The CSV file; columns as in `COLUMNS` (see the module docstring).

    Returns
    -------
    list of HolidayDay
        In date order.

    Raises
    ------
    HolidayFileError
        Listing every problem: unreadable file, size (`MAX_BYTES`, `MAX_ROWS`), header,
        and per row (spreadsheet row numbers, the header is row 1) bad or duplicate dates,
        unknown types, empty names or notices, make-up working days that are not on a
        weekend, bad URLs or publication dates; then years that look incomplete (1 January,
        1 May and 1 October must be days off, a Spring Festival break of 3 days or more,
        at least 11 days off).
    """
    path = Path(path)
    shown = str(path)
    records = _records(path, shown)
    columns, problems = _header_map(records[0])
    if problems:
        raise HolidayFileError(problems, shown)
    headers = {c: records[0][i].strip() for c, i in columns.items()}
    rows: list[HolidayDay] = []
    seen: dict[date, int] = {}
    for number, record in enumerate(records[1:], start=2):
        if any(c.strip() for c in record):
            row = _read_row(_Row(number, record, columns, headers, problems), seen)
            if row is not None:
                rows.append(row)
    if not rows and not problems:
        problems.append("文件没有数据行 / the file has no rows")
    if not problems:
        problems.extend(_completeness(rows))
    if problems:
        raise HolidayFileError(problems, shown)
    return sorted(rows, key=lambda r: r.day)


def _records(path: Path, shown: str) -> list[list[str]]:
    """The CSV records of a holiday table, header first, without trailing empty ones.

    Raises
    ------
    HolidayFileError
        The file is unreadable, too large, empty or has too many rows.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            msg = (
                f"文件过大（{size / 1e6:.1f} MB，上限 {MAX_BYTES / 1e6:.0f} MB）/ file too "
                f"large ({size} bytes, limit {MAX_BYTES})"
            )
            raise HolidayFileError([msg], shown)
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"无法读取文件 / cannot read the file: {exc.strerror or exc}"
        raise HolidayFileError([msg], shown) from None
    text = _decode(raw, shown)
    records = list(csv.reader(io.StringIO(text, newline="")))
    while records and not any(c.strip() for c in records[-1]):
        records.pop()
    if not records:
        raise HolidayFileError(["文件是空的 / the file is empty"], shown)
    if len(records) - 1 > MAX_ROWS:
        msg = f"行数过多（上限 {MAX_ROWS} 行）/ too many rows (limit {MAX_ROWS})"
        raise HolidayFileError([msg], shown)
    return records


@dataclass
class _Row:
    """One data row of a holiday table being checked; its problems go to ``problems``."""

    number: int  # spreadsheet row number (the header is row 1)
    record: list[str]
    columns: dict[str, int]  # canonical column → index
    headers: dict[str, str]  # canonical column → header as written
    problems: list[str]

    def cell(self, name: str) -> str:
        i = self.columns.get(name)
        return self.record[i].strip() if i is not None and i < len(self.record) else ""

    def bad(self, name: str, message: str) -> None:
        self.problems.append(
            f"第 {self.number} 行，列「{self.headers.get(name, name)}」：{message}"
        )


def _read_row(row: _Row, seen: dict[date, int]) -> HolidayDay | None:
    """The row as a `HolidayDay`, or None when it has problems (reported on ``row``).
    ``seen`` maps the dates of earlier rows to their row numbers."""
    before = len(row.problems)
    day = _row_day(row, seen)
    kind = _row_type(row, day)
    for name in ("name", "notice"):
        if not row.cell(name):
            row.bad(name, f"不能为空 / {name} is empty")
    for name, limit in _MAX_TEXT.items():
        if len(row.cell(name)) > limit:
            row.bad(name, f"过长（上限 {limit} 字）/ longer than {limit} characters")
    published = None
    if row.cell("published"):
        published = _parse_date(row.cell("published"))
        if published is None:
            row.bad("published", f"日期无效 / not a date: {excerpt(row.cell('published'))}")
    url = row.cell("url")
    if url and (not re.match(r"^https?://[^\s]+$", url)):
        row.bad("url", f"应为 http(s) 网址 / not an http(s) URL: {excerpt(url)}")
    if day is not None and day not in seen:
        seen[day] = row.number
    if len(row.problems) > before or day is None or kind is None:
        return None
    return HolidayDay(
        day=day,
        type=kind,
        name=row.cell("name"),
        notice=row.cell("notice"),
        published=published,
        url=url,
        year=_arrangement_year(day, row.cell("name")),
    )


def _row_day(row: _Row, seen: dict[date, int]) -> date | None:
    """The row's date (even out of range or repeated, which are reported)."""
    day = _parse_date(row.cell("date"))
    if day is None or not 2000 <= day.year <= 2100:
        row.bad("date", f"日期无效 / not a date (YYYY-MM-DD): {excerpt(row.cell('date'))}")
    elif day in seen:
        row.bad("date", f"日期与第 {seen[day]} 行重复 / duplicate date {day} (row {seen[day]})")
    return day


def _row_type(row: _Row, day: date | None) -> DayType | None:
    """The row's type; a make-up working day must fall on a weekend."""
    kind = _TYPE_ALIASES.get(row.cell("type").lower())
    if kind is None:
        row.bad(
            "type",
            f"类型应为 off（放假）或 workday（调休上班）/ type must be off or workday, "
            f"not {excerpt(row.cell('type'))}",
        )
    elif kind == "workday" and day is not None and day.weekday() < 5:
        row.bad(
            "type",
            f"调休上班日应为周六或周日，{day} 是{_WEEKDAYS_ZH[day.weekday()]} / a make-up "
            f"working day falls on a weekend; {day} is a {day:%A}",
        )
    return kind


def _write(rows: list[HolidayDay], path: Path) -> None:
    """Write `rows` as a holiday table to ``path`` (via a temporary file, fsynced)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows:
            published = "" if r.published is None else r.published.isoformat()
            w.writerow([r.day.isoformat(), r.type, r.name, r.notice, published, r.url])
        f.flush()
        os.fsync(f.fileno())


# --- the calendar in force -------------------------------------------------------------------


#: The (name, mtime in ns, size) of each table in a holiday folder: a change means reload.
_Stamp = tuple[tuple[str, int, int], ...]


@dataclass
class _State:
    calendar: Calendar | None = None
    directory: Path | None = None
    stamp: _Stamp = ()
    checked: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE = _State()


def _shipped() -> Calendar:
    rows = read_table(SHIPPED)
    return Calendar(rows, {r.year: "内置 / shipped data/holidays/cn.csv" for r in rows})


def _stamp(folder: Path | None) -> _Stamp:
    if folder is None:
        return ()
    try:
        entries = sorted(p for p in folder.glob("*.csv") if p.is_file())
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in entries)
    except OSError:
        return ()


def _load(folder: Path | None) -> tuple[Calendar, _Stamp]:
    try:
        calendar = _shipped()
    except HolidayFileError as exc:  # a damaged checkout must not stop opening hours
        logger.error("the shipped holiday table is unusable:\n%s", exc.report(limit=5))
        calendar = Calendar([])
    if folder is None:
        return calendar, ()
    stamp = _stamp(folder)
    for name, _mtime, _size in stamp:
        path = folder / name
        try:
            rows = read_table(path)
        except HolidayFileError as exc:
            logger.warning("ignoring holiday file %s:\n%s", path, exc.report(limit=5))
            continue
        calendar = calendar.merged(Calendar(rows, {r.year: str(path) for r in rows}))
    return calendar, stamp


def configure(folder: str | Path | None) -> Calendar:
    """Load the shipped table merged with the tables in `folder`, and make it current.

    Parameters
    ----------
    folder
        The instance's holiday folder (``<instance>/holidays``); it need not exist. A file
        there that does not validate is logged and ignored. None: the shipped table only.

    Returns
    -------
    Calendar
        The calendar now in force.
    """
    folder = None if folder is None else Path(folder)
    calendar, stamp = _load(folder)
    with _STATE.lock:
        _STATE.calendar = calendar
        _STATE.directory = folder
        _STATE.stamp = stamp
        _STATE.checked = time.monotonic()
    return calendar


def reset() -> Calendar:
    """Back to the shipped table, with no instance folder (for tests)."""
    return configure(None)


def set_current(calendar: Calendar) -> Calendar:
    """Install `calendar` as the one in force (no folder is watched); return the previous."""
    with _STATE.lock:
        previous = _STATE.calendar or _load(None)[0]
        _STATE.calendar = calendar
        _STATE.directory = None
        _STATE.stamp = ()
    return previous


def directory() -> Path | None:
    """The configured instance folder, or None."""
    return _STATE.directory


def current() -> Calendar:
    """The calendar in force (loaded on first use; the folder re-checked now and then)."""
    calendar = _STATE.calendar
    if calendar is None:
        return configure(_STATE.directory)
    folder = _STATE.directory
    if folder is not None and time.monotonic() - _STATE.checked > RECHECK_SECONDS:
        _STATE.checked = time.monotonic()
        if _stamp(folder) != _STATE.stamp:
            return configure(folder)
    return calendar


class CurrentCalendar:
    """Working days by the calendar in force at each call (`current`).

    For objects that live longer than a request, such as the web app's tour planner: a
    year imported while the service runs is used from the next call on.
    """

    def covers(self, day: date) -> bool:
        """See `Calendar.covers`."""
        return current().covers(day)

    def is_day_off(self, day: date) -> bool:
        """See `Calendar.is_day_off`."""
        return current().is_day_off(day)

    def is_workday(self, day: date) -> bool:
        """See `Calendar.is_workday`."""
        return current().is_workday(day)


# --- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    """What ``hours holidays import`` did."""

    path: str
    years: tuple[int, ...]
    rows: int
    replaced: tuple[int, ...]
    files: tuple[str, ...]

    def summary(self) -> str:
        """Chinese, then English."""
        years = "、".join(str(y) for y in self.years)
        replaced = (
            f"；替换了原有的 {'、'.join(str(y) for y in self.replaced)} 年安排"
            if self.replaced
            else ""
        )
        return (
            f"已导入 {years} 年节假日安排（{self.rows} 行）{replaced} / imported the "
            f"holiday arrangement of {', '.join(str(y) for y in self.years)} ({self.rows} "
            f"rows){' replacing the previous one' if self.replaced else ''}\n"
            + "\n".join(f"  → {f}" for f in self.files)
        )


def import_file(path: str | Path, folder: str | Path | None = None) -> ImportSummary:
    """Validate a holiday table and save it in the instance folder, one file per year.

    All or nothing: nothing is written unless every row is valid. A year already in the
    folder is replaced; the shipped table is never changed (the saved year takes
    precedence over it). The calendar in force is reloaded.

    Parameters
    ----------
    path
        The CSV to import (see `read_table`).
    folder
        Where to save (default: the configured folder).

    Returns
    -------
    ImportSummary

    Raises
    ------
    HolidayFileError
        The file does not validate, or no folder is configured, or it cannot be written.
    """
    target = Path(folder) if folder is not None else _STATE.directory
    if target is None:
        msg = "没有配置实例文件夹 / no instance folder is configured"
        raise HolidayFileError([msg], str(path))
    rows = read_table(path)
    before = current()
    years = sorted({r.year for r in rows})
    staged: list[tuple[Path, Path]] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for year in years:
            final = target / f"cn-{year}.csv"
            tmp = target / f".cn-{year}.{uuid.uuid4().hex}.tmp"
            _write([r for r in rows if r.year == year], tmp)
            staged.append((tmp, final))
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as exc:
        for tmp, _final in staged:
            tmp.unlink(missing_ok=True)
        msg = f"无法写入 {target} / cannot write to {target}: {exc.strerror or exc}"
        raise HolidayFileError([msg], str(path)) from None
    configure(target)
    return ImportSummary(
        path=str(path),
        years=tuple(years),
        rows=len(rows),
        replaced=tuple(y for y in years if y in before.years),
        files=tuple(str(final) for _tmp, final in staged),
    )
