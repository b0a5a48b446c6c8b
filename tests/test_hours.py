"""Tests for geoservice.hours: OSM opening_hours evaluation in Asia/Shanghai time.

Reference week (Asia/Shanghai): Wednesday 2026-11-25, Friday 11-27, Saturday 11-28,
Sunday 11-29, Monday 11-30.
"""

from __future__ import annotations

import csv
import pickle
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest

from geoservice import holidays
from geoservice.hours import (
    HORIZON,
    INVALID_ZH,
    MAX_CHARS,
    TZ,
    Hours,
    HoursError,
    convert,
    format_zh,
    normalize,
    open_mask,
    parse,
    status,
    validate,
)
from geoservice.store import catalog

WEEKDAYS = "Mo-Fr 08:00-18:00"
SPLIT = "Mo-Su 07:00-11:30,13:30-20:00"
NIGHT = "Mo-Su 18:00-02:00"

WED = datetime(2026, 11, 25, 13, 0)  # naive = Shanghai wall time
FRI = datetime(2026, 11, 27, 13, 0)
SAT = datetime(2026, 11, 28, 13, 0)
SUN = datetime(2026, 11, 29, 13, 0)
MON = datetime(2026, 11, 30, 13, 0)


def sh(*args: int) -> datetime:
    """An aware Asia/Shanghai datetime."""
    return datetime(*args, tzinfo=TZ)


# --- basics ------------------------------------------------------------------------------


def test_tz_is_shanghai():
    assert TZ.key == "Asia/Shanghai"
    assert HORIZON.days == 8


def test_hours_is_value_error_subclass():
    assert issubclass(HoursError, ValueError)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (WED, True),
        (FRI, True),
        (SAT, False),
        (SUN, False),
        (MON, True),
        (datetime(2026, 11, 25, 7, 59, 59), False),
        (datetime(2026, 11, 25, 8, 0), True),
        (datetime(2026, 11, 25, 17, 59, 59), True),
        (datetime(2026, 11, 25, 18, 0), False),
        (datetime(2026, 11, 27, 18, 30), False),
    ],
)
def test_weekday_hours(at, expected):
    h = parse(WEEKDAYS)
    assert h.is_open(at) is expected
    assert h.state(at) == ("open" if expected else "closed")


@pytest.mark.parametrize(
    ("hhmm", "expected"),
    [
        ((6, 59), False),
        ((7, 0), True),
        ((11, 29), True),
        ((11, 30), False),
        ((12, 0), False),
        ((13, 29), False),
        ((13, 30), True),
        ((19, 59), True),
        ((20, 0), False),
    ],
)
def test_several_time_ranges(hhmm, expected):
    h = parse(SPLIT)
    assert h.is_open(datetime(2026, 11, 25, *hhmm)) is expected
    assert h.is_open(datetime(2026, 11, 29, *hhmm)) is expected  # Sunday too


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 11, 25, 17, 59), False),
        (datetime(2026, 11, 25, 18, 0), True),
        (datetime(2026, 11, 25, 23, 59), True),
        (datetime(2026, 11, 26, 0, 0), True),
        (datetime(2026, 11, 26, 1, 59), True),
        (datetime(2026, 11, 26, 2, 0), False),
        (datetime(2026, 11, 26, 13, 0), False),
    ],
)
def test_range_past_midnight(at, expected):
    assert parse(NIGHT).is_open(at) is expected


def test_range_past_midnight_spills_into_next_weekday():
    h = parse("Fr 18:00-02:00")
    assert h.is_open(datetime(2026, 11, 27, 23, 0))  # Friday night
    assert h.is_open(datetime(2026, 11, 28, 1, 30))  # early Saturday belongs to Friday
    assert not h.is_open(datetime(2026, 11, 28, 2, 0))
    assert not h.is_open(datetime(2026, 11, 28, 20, 0))  # Saturday evening


def test_rules_separated_by_semicolon_override():
    h = parse("Mo-Su 08:00-18:00; Sa-Su 10:00-12:00")
    assert h.is_open(WED)
    assert not h.is_open(SAT)  # later rule replaces the weekend hours
    assert h.is_open(datetime(2026, 11, 28, 11, 0))


@pytest.mark.parametrize("expr", ["off", "closed", "24/7 off", "Mo-Su off"])
def test_off_and_closed(expr):
    h = parse(expr)
    for at in (WED, SAT, SUN, datetime(2026, 11, 25, 3, 0)):
        assert not h.is_open(at)
    assert h.next_open(WED) is None
    assert h.next_close(WED) == sh(2026, 11, 25, 13, 0)
    assert h.describe_zh(WED) == "已关闭"


# --- time zones --------------------------------------------------------------------------


@pytest.mark.parametrize("utc", [UTC, zoneinfo.ZoneInfo("UTC")])
def test_aware_utc_is_converted(utc):
    h = parse(WEEKDAYS)
    # 05:00Z is 13:00 in Shanghai (Wednesday): open. Evaluated as UTC wall time it would be
    # 05:00, i.e. closed.
    assert h.is_open(datetime(2026, 11, 25, 5, 0, tzinfo=utc))
    # 10:30Z is 18:30 in Shanghai: closed (as UTC wall time it would be open).
    assert not h.is_open(datetime(2026, 11, 25, 10, 30, tzinfo=utc))
    # 23:30Z on Tuesday is 07:30 Wednesday in Shanghai: closed, opens at 08:00 (00:00Z).
    at = datetime(2026, 11, 24, 23, 30, tzinfo=utc)
    assert not h.is_open(at)
    opens = h.next_open(at)
    assert opens == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    assert opens.tzinfo is TZ
    assert (opens.hour, opens.minute) == (8, 0)


def test_aware_other_zone_and_fixed_offset():
    h = parse(WEEKDAYS)
    ny = zoneinfo.ZoneInfo("America/New_York")
    # 2026-11-25 00:00 New York (EST, UTC-5) = 13:00 Shanghai.
    assert h.is_open(datetime(2026, 11, 25, 0, 0, tzinfo=ny))
    assert h.next_close(datetime(2026, 11, 25, 0, 0, tzinfo=ny)) == sh(2026, 11, 25, 18, 0)
    plus8 = timezone(timedelta(hours=8))
    assert h.is_open(datetime(2026, 11, 25, 13, 0, tzinfo=plus8))


def test_returned_datetimes_are_aware_shanghai():
    h = parse(WEEKDAYS)
    for value in (h.next_open(SAT), h.next_close(WED), h.next_open(WED), h.next_close(SAT)):
        assert value is not None
        assert value.tzinfo is TZ


def test_pandas_timestamp_input():
    pd = pytest.importorskip("pandas")
    h = parse(WEEKDAYS)
    assert h.is_open(pd.Timestamp("2026-11-25 13:00"))
    assert h.is_open(pd.Timestamp("2026-11-25 05:00", tz="UTC"))
    assert h.next_close(pd.Timestamp("2026-11-25 05:00", tz="UTC")) == sh(2026, 11, 25, 18, 0)


def test_bad_at_type():
    with pytest.raises(TypeError, match="datetime"):
        parse(WEEKDAYS).is_open(date(2026, 11, 25))


def test_at_none_means_now():
    assert parse("24/7").is_open() is True
    assert parse("off").is_open() is False
    assert isinstance(parse(WEEKDAYS).is_open(), bool)
    assert isinstance(parse(WEEKDAYS).describe_zh(), str)
    now = datetime.now(TZ)
    got = parse("24/7").next_open()
    assert got.tzinfo is TZ
    assert abs(got - now) < timedelta(seconds=5)


# --- next_open / next_close --------------------------------------------------------------


def test_next_open_across_weekend():
    h = parse(WEEKDAYS)
    monday_8 = sh(2026, 11, 30, 8, 0)
    assert h.next_open(datetime(2026, 11, 27, 18, 0)) == monday_8  # Friday closing time
    assert h.next_open(datetime(2026, 11, 27, 19, 0)) == monday_8
    assert h.next_open(SAT) == monday_8
    assert h.next_open(SUN) == monday_8
    assert h.next_open(datetime(2026, 11, 30, 7, 59)) == monday_8


def test_next_open_when_open_returns_at():
    h = parse(WEEKDAYS)
    assert h.next_open(WED) == sh(2026, 11, 25, 13, 0)
    at = datetime(2026, 11, 25, 13, 7, 42, 500)
    assert h.next_open(at) == at.replace(tzinfo=TZ)  # not rounded
    assert h.next_open(datetime(2026, 11, 25, 8, 0)) == sh(2026, 11, 25, 8, 0)


def test_next_close():
    h = parse(WEEKDAYS)
    assert h.next_close(WED) == sh(2026, 11, 25, 18, 0)
    assert h.next_close(datetime(2026, 11, 25, 17, 59, 59)) == sh(2026, 11, 25, 18, 0)
    assert h.next_close(SAT) == sh(2026, 11, 28, 13, 0)  # closed now: at itself
    s = parse(SPLIT)
    assert s.next_close(datetime(2026, 11, 25, 9, 0)) == sh(2026, 11, 25, 11, 30)
    assert s.next_open(datetime(2026, 11, 25, 12, 0)) == sh(2026, 11, 25, 13, 30)
    assert s.next_open(datetime(2026, 11, 25, 20, 0)) == sh(2026, 11, 26, 7, 0)


def test_next_close_past_midnight_and_merged_intervals():
    assert parse(NIGHT).next_close(datetime(2026, 11, 25, 20, 0)) == sh(2026, 11, 26, 2, 0)
    assert parse(NIGHT).next_open(datetime(2026, 11, 26, 2, 0)) == sh(2026, 11, 26, 18, 0)
    # Two adjacent ranges with different comments form one opening.
    h = parse('Mo-Su 08:00-12:00 "上午", Mo-Su 12:00-14:00 "午间"')
    assert h.next_close(datetime(2026, 11, 25, 9, 0)) == sh(2026, 11, 25, 14, 0)
    # Open until midnight, then again from midnight: one opening until 02:00.
    g = parse("Mo-Su 08:00-24:00,00:00-02:00")
    assert g.next_close(datetime(2026, 11, 25, 20, 0)) == sh(2026, 11, 26, 2, 0)


def test_horizon():
    h = parse("Dec25 08:00-18:00")
    assert h.next_open(datetime(2026, 11, 25, 13, 0)) is None  # a month away
    assert h.next_open(datetime(2026, 12, 20, 13, 0)) == sh(2026, 12, 25, 8, 0)
    assert h.next_open(datetime(2026, 12, 17, 8, 0)) is None  # exactly 8 days: excluded
    assert h.next_open(datetime(2026, 12, 17, 8, 1)) == sh(2026, 12, 25, 8, 0)
    # Never changes again: the library's own next_change would scan to year 9999.
    assert parse("2020 Mo-Fr 08:00-18:00").next_open(WED) is None


def test_fallback_rule_changes_not_missed():
    # The library's intervals()/next_change() stop seeing changes after Wednesday 18:00 for
    # this expression; next_open/next_close must still agree with state().
    h = parse(f"{WEEKDAYS} || unknown")
    assert h.next_close(WED) == sh(2026, 11, 25, 18, 0)
    assert h.next_open(datetime(2026, 11, 25, 19, 0)) == sh(2026, 11, 26, 8, 0)
    assert h.describe_zh(datetime(2026, 11, 25, 19, 0)) == "已关闭 · 明天 08:00 开放"
    g = parse("Sa-Su 10:00-12:00 || closed")
    assert g.next_open(WED) == sh(2026, 11, 28, 10, 0)


@pytest.mark.parametrize(
    "expr",
    [
        WEEKDAYS,
        SPLIT,
        NIGHT,
        f"{WEEKDAYS} || unknown",
        "Mo-Fr 08:00-12:00,14:00-18:00; We off || unknown",
        "Fr 22:00-02:00 || Sa 10:00-12:00",
        "08:00-18:00",
    ],
)
@pytest.mark.parametrize("start", [WED, datetime(2026, 11, 27, 23, 30), SAT])
def test_next_open_close_agree_with_minute_scan(expr, start):
    h = parse(expr)
    minute = timedelta(minutes=1)
    scan = [start + i * minute for i in range(int(HORIZON / minute))]
    states = [h.is_open(t) for t in scan]
    first_open = next((t for t, s in zip(scan, states, strict=True) if s), None)
    first_shut = next((t for t, s in zip(scan, states, strict=True) if not s), None)
    expected_open = None if first_open is None else first_open.replace(tzinfo=TZ)
    expected_shut = None if first_shut is None else first_shut.replace(tzinfo=TZ)
    assert h.next_open(start) == expected_open
    assert h.next_close(start) == expected_shut


def test_unknown_state_counts_as_not_open():
    h = parse("24/7 unknown")
    assert h.state(WED) == "unknown"
    assert not h.is_open(WED)
    assert h.next_open(WED) is None
    assert h.describe_zh(WED) == "营业状态未知"
    fallback = parse(f"{WEEKDAYS} || unknown")
    assert fallback.state(SAT) == "unknown"
    assert fallback.next_open(SAT) == sh(2026, 11, 30, 8, 0)


# --- 24/7 and public holidays -----------------------------------------------------------


@pytest.mark.parametrize(
    "expr", ["24/7", "Mo-Su 00:00-24:00", "00:00-24:00", "Mo-Su 00:00-12:00,12:00-24:00", "全天"]
)
def test_always_open(expr):
    h = parse(expr)
    assert h.is_always_open
    for at in (WED, SAT, SUN, datetime(2026, 11, 25, 0, 0), datetime(2026, 11, 25, 23, 59)):
        assert h.is_open(at)
    assert h.next_close(WED) is None
    assert h.next_open(WED) == sh(2026, 11, 25, 13, 0)
    assert h.describe_zh(WED) == "24小时开放"


@pytest.mark.parametrize("expr", [WEEKDAYS, NIGHT, "off", "Mo-Su 00:00-23:59", "24/7; PH off"])
def test_not_always_open(expr):
    assert not parse(expr).is_always_open


def test_ph_off_matches_public_holidays():
    h = parse(f"{SPLIT}; PH off")
    assert h.expr == f"{SPLIT}; PH off"
    assert h.is_open(datetime(2026, 11, 25, 10, 0))
    # 2026-10-01 (Thursday) is National Day in the shipped holiday table: PH off closes it.
    # (tests/test_holidays.py covers the calendar itself.)
    assert not h.is_open(datetime(2026, 10, 1, 10, 0))
    assert not parse("24/7; PH off").is_open(datetime(2026, 10, 1, 10, 0))
    assert validate("PH off") == "PH off"


# --- syntax errors -----------------------------------------------------------------------


def test_syntax_error_message_and_position():
    with pytest.raises(HoursError) as info:
        parse("Mo-Fx 08:00")
    err = info.value
    assert err.position == 3
    assert err.expr == "Mo-Fx 08:00"
    assert str(err) == (
        "开放时间格式错误（第 4 个字符）：此处应为星期（Mo…Su） / "
        "opening_hours syntax error at position 3 ('Mo-Fx 08:00'): expected a weekday"
    )


@pytest.mark.parametrize(
    ("expr", "norm", "position", "fragment"),
    [
        ("Mo-Fx 08:00", "Mo-Fx 08:00", 3, "expected a weekday"),
        ("   Mo-Fx 08:00  ", "Mo-Fx 08:00", 3, "expected a weekday"),  # refers to normalised
        ("Mo-Fr 08:00-18:00;", "Mo-Fr 08:00-18:00;", 18, "unexpected end of expression"),
        ("Mo-Fr 08:00-", "Mo-Fr 08:00-", 12, "expected a time"),
        ("Mo-Fr 08:6", "Mo-Fr 08:6", 9, "expected minutes"),
        ("Mo-Fr 25:00-26:00", "Mo-Fr 25:00-26:00", 6, "a time range"),
        ("Mx 08:00", "Mx 08:00", 0, "expected one of"),
        # Column counted in characters, not UTF-8 bytes.
        ('Mo-Fr 08:00-18:00 "暖心" Sa x', 'Mo-Fr 08:00-18:00 "暖心" Sa x', 22, "separator"),
        ("Mo-Fr 08.00-18.00", "Mo-Fr 08.00-18.00", 6, "expected one of"),
    ],
)
def test_syntax_errors(expr, norm, position, fragment):
    with pytest.raises(HoursError, match="opening_hours syntax error") as info:
        parse(expr)
    err = info.value
    assert err.expr == norm
    assert err.position == position
    assert f"at position {position} " in str(err)
    assert fragment in str(err)
    assert "-->" not in str(err)  # the library's multi-line pest report is not leaked
    with pytest.raises(HoursError):
        validate(expr)


@pytest.mark.parametrize("expr", ["", " ", "   ", "\t\n", "\u3000"])
def test_empty_rejected(expr):
    # Note: the library itself accepts "  " (two spaces) as 24/7.
    with pytest.raises(HoursError, match="empty") as info:
        parse(expr)
    assert info.value.position is None


@pytest.mark.parametrize("value", [None, 3.5, float("nan"), b"24/7", ["24/7"]])
def test_non_string_rejected(value):
    with pytest.raises(HoursError, match="must be a string") as info:
        parse(value)
    assert info.value.position is None
    with pytest.raises(HoursError):
        Hours(value)


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("全天", "24/7"),
        ("24小时", "24/7"),
        ("24 小时", "24/7"),
        ("全天24小时", "24/7"),
        (" 全天 ", "24/7"),
        ("24小时营业", "24/7"),
        ("全天；PH off", "24/7; PH off"),
        ("Mo-Fr 全天", "Mo-Fr 00:00-24:00"),
        ("Mo－Fr 08：00－18：00", "Mo-Fr 08:00-18:00"),
        ("Mo-Fr 08:00～18:00", "Mo-Fr 08:00-18:00"),
        ("Mo-Fr 08:00~18:00", "Mo-Fr 08:00-18:00"),
        ("Mo-Fr 08:00—18:00", "Mo-Fr 08:00-18:00"),
        ("Mo-Su 07:00-11:30，13:30-20:00", SPLIT),
        ("Mo-Fr 08:00-18:00；Sa 09:00-12:00", "Mo-Fr 08:00-18:00; Sa 09:00-12:00"),
        ("Mo-Fr  08:00-18:00\n", WEEKDAYS),
        ("０８：００-１８：００", "08:00-18:00"),
        ("Mo-Fr 08:00-18:00 “暖心驿站”", 'Mo-Fr 08:00-18:00 "暖心驿站"'),
        ('Mo-Fr 08:00-18:00 "全天；开放"', 'Mo-Fr 08:00-18:00 "全天；开放"'),  # comments kept
        (WEEKDAYS, WEEKDAYS),
    ],
)
def test_chinese_normalisation(raw, expected):
    assert normalize(raw) == expected
    assert normalize(expected) == expected  # idempotent
    assert validate(raw) == expected
    assert parse(raw).expr == expected


def test_chinese_spelling_evaluates_like_osm():
    h = parse("Mo－Fr 08：00～18：00；Sa 09：00—12：00")
    assert h.is_open(WED)
    assert h.is_open(datetime(2026, 11, 28, 10, 0))
    assert not h.is_open(datetime(2026, 11, 28, 13, 0))
    assert not h.is_open(SUN)


def test_parse_is_cached_on_normalised_string():
    a = parse(WEEKDAYS)
    assert parse(f"  {WEEKDAYS} ") is a
    assert parse("Mo-Fr 08：00-18：00") is a
    assert parse(a) is a
    assert Hours(WEEKDAYS) == a
    assert hash(Hours("全天")) == hash(parse("24/7"))
    assert str(a) == WEEKDAYS


def test_pickle_roundtrip():
    h = parse(SPLIT)
    clone = pickle.loads(pickle.dumps(h))
    assert clone == h
    assert clone.is_open(WED) is h.is_open(WED)


# --- describe_zh -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "at", "text"),
    [
        (WEEKDAYS, WED, "营业中 · 18:00 关闭"),
        (WEEKDAYS, datetime(2026, 11, 25, 7, 0), "已关闭 · 08:00 开放"),
        (WEEKDAYS, datetime(2026, 11, 25, 19, 0), "已关闭 · 明天 08:00 开放"),
        (WEEKDAYS, datetime(2026, 11, 27, 19, 0), "已关闭 · 周一 08:00 开放"),
        (WEEKDAYS, SAT, "已关闭 · 周一 08:00 开放"),
        (WEEKDAYS, SUN, "已关闭 · 明天 08:00 开放"),
        (SPLIT, datetime(2026, 11, 25, 20, 30), "已关闭 · 明天 07:00 开放"),
        (SPLIT, datetime(2026, 11, 25, 12, 0), "已关闭 · 13:30 开放"),
        (NIGHT, datetime(2026, 11, 25, 20, 0), "营业中 · 明天 02:00 关闭"),
        (NIGHT, datetime(2026, 11, 26, 1, 0), "营业中 · 02:00 关闭"),
        ("Mo-Su 08:00-24:00", datetime(2026, 11, 25, 20, 0), "营业中 · 24:00 关闭"),
        ("Dec01 08:00-18:00", WED, "已关闭 · 周二 08:00 开放"),
        ("Dec03 08:00-18:00", datetime(2026, 11, 25, 9, 0), "已关闭 · 12月3日 08:00 开放"),
        ("Dec04 08:00-18:00", WED, "已关闭"),  # beyond the 8-day horizon
        ("24/7", WED, "24小时开放"),
        ("全天", SUN, "24小时开放"),
        ("24/7; PH off", WED, "营业中"),  # never closes within the horizon
        ("off", WED, "已关闭"),
    ],
)
def test_describe_zh(expr, at, text):
    assert parse(expr).describe_zh(at) == text


def test_describe_zh_aware_input():
    # 2026-11-25 11:00Z = 19:00 Shanghai, Wednesday.
    at = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert parse(WEEKDAYS).describe_zh(at) == "已关闭 · 明天 08:00 开放"


# --- open_mask ---------------------------------------------------------------------------


def test_open_mask():
    exprs = [WEEKDAYS, "off", "全天", "Sa-Su 10:00-12:00", NIGHT, WEEKDAYS, parse(SPLIT)]
    mask = open_mask(exprs, WED)
    assert isinstance(mask, np.ndarray)
    assert mask.dtype == np.bool_
    assert mask.tolist() == [True, False, True, False, False, True, False]  # 13:00: SPLIT shut
    assert open_mask(exprs, datetime(2026, 11, 28, 11, 0)).tolist() == [
        False,
        False,
        True,
        True,
        False,
        False,
        True,
    ]
    # Aware input is converted: 2026-11-25T05:00Z is 13:00 in Shanghai.
    utc = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    assert open_mask(exprs, utc).tolist() == mask.tolist()


def test_open_mask_empty_and_array_input():
    assert open_mask([], WED).shape == (0,)
    arr = np.array([WEEKDAYS, "off"], dtype=object)
    assert open_mask(arr, WED).tolist() == [True, False]


def test_open_mask_pandas_series():
    pd = pytest.importorskip("pandas")
    s = pd.Series([WEEKDAYS, "全天", None], index=[10, 20, 30])
    assert open_mask(s, SAT, on_error="closed").tolist() == [False, True, False]


def test_open_mask_errors():
    exprs = [WEEKDAYS, "Mo-Fx 08:00", None, "", WEEKDAYS]
    with pytest.raises(HoursError, match="position 3"):
        open_mask(exprs, WED)
    assert open_mask(exprs, WED, on_error="closed").tolist() == [True, False, False, False, True]
    with pytest.raises(ValueError, match="on_error"):
        open_mask(exprs, WED, on_error="ignore")


def test_open_mask_many_stations():
    exprs = [WEEKDAYS, SPLIT, "24/7", NIGHT] * 2500
    mask = open_mask(exprs, WED)
    assert mask.shape == (10_000,)
    assert mask.sum() == 2500 * 2  # WEEKDAYS and 24/7 are open at 13:00; SPLIT/NIGHT are not


@pytest.fixture(autouse=True)
def _shipped_calendar():
    holidays.reset()
    yield
    holidays.reset()


def test_open_mask_is_cached_per_minute_and_agrees_with_is_open():
    exprs = [WEEKDAYS, SPLIT, NIGHT, "24/7; PH off", "Mo-Fr 08:00-18:00; Sa,Su off"] * 50
    for at in (WED, datetime(2026, 10, 1, 10, 30, 59), datetime(2026, 2, 14, 1, 0)):
        expected = [parse(e).is_open(at) for e in exprs]
        assert open_mask(exprs, at).tolist() == expected
        assert open_mask(exprs, at.replace(second=30)).tolist() == expected  # cached minute


def test_open_mask_float_nan_series():
    pd = pytest.importorskip("pandas")
    s = pd.Series([float("nan"), float("nan")])  # float dtype: new objects on each iteration
    assert open_mask(s, WED, on_error="closed").tolist() == [False, False]
    with pytest.raises(HoursError, match="must be a string"):
        open_mask(s, WED)


def test_open_mask_unhashable_entries():
    assert open_mask([WEEKDAYS, ["24/7"]], WED, on_error="closed").tolist() == [True, False]
    with pytest.raises(HoursError, match="must be a string"):
        open_mask([WEEKDAYS, ["24/7"]], WED)


def test_too_long_rejected():
    with pytest.raises(HoursError, match="过长"):
        parse("Mo-Fr 08:00-18:00; " * 40)
    assert len("Mo-Fr 08:00-18:00; " * 40) > MAX_CHARS
    assert not status("x" * 10_000_000).valid


# --- Chinese forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "osm"),
    [
        ("周一至周五 8:00-17:30", "Mo-Fr 08:00-17:30"),
        ("周一到周五 8:00-17:30", "Mo-Fr 08:00-17:30"),
        ("星期一至星期五 8:00-17:30", "Mo-Fr 08:00-17:30"),
        ("礼拜一到礼拜五 8:00-17:30", "Mo-Fr 08:00-17:30"),
        ("周一至周六 8:00-17:30", "Mo-Sa 08:00-17:30"),
        ("周一至五 8:00-17:00", "Mo-Fr 08:00-17:00"),
        ("周一～周五 8：00－17：30", "Mo-Fr 08:00-17:30"),
        ("周一、三、五 8:00-12:00", "Mo,We,Fr 08:00-12:00"),
        ("周五至周一 10:00-12:00", "Mo,Fr-Su 10:00-12:00"),
        ("每天 7:00-20:00", "Mo-Su 07:00-20:00"),
        ("每日 7:00-20:00", "Mo-Su 07:00-20:00"),
        ("全年无休 8:00-20:00", "Mo-Su 08:00-20:00"),
        ("全年无休 24小时", "24/7"),
        ("每天 全天", "24/7"),
        ("工作日 9:00-17:00", "Mo-Fr 09:00-17:00; PH off"),
        ("工作日 9:00-17:00；节假日照常", "Mo-Fr 09:00-17:00"),
        ("工作日 9:00-17:00；周末 10:00-16:00", "Mo-Fr 09:00-17:00; PH off; Sa,Su 10:00-16:00"),
        ("周末 10:00-16:00", "Sa,Su 10:00-16:00"),
        ("周六、周日 10:00-16:00", "Sa,Su 10:00-16:00"),
        ("周六和周日 10:00-16:00", "Sa,Su 10:00-16:00"),
        ("双休日 10:00-16:00", "Sa,Su 10:00-16:00"),
        ("周末休息", "Sa,Su off"),
        ("周日闭馆", "Su off"),
        ("周末及节假日休息", "Sa,Su,PH off"),
        ("节假日休息", "PH off"),
        ("法定节假日休息", "PH off"),
        ("节假日 9:00-12:00", "PH 09:00-12:00"),
        ("周一至周五 8:00-17:30；节假日休息", "Mo-Fr 08:00-17:30; PH off"),
        ("周一至周五 8:00-17:30；法定节假日休息", "Mo-Fr 08:00-17:30; PH off"),
        ("周一至周五 8:00-17:30；节假日照常", "Mo-Fr 08:00-17:30"),
        ("周一至周五 8:00-17:30；节假日开放", "Mo-Fr 08:00-17:30"),
        ("周一至周五 8:00-17:30；节假日不休息", "Mo-Fr 08:00-17:30"),
        ("周一至周五 8:00-12:00、14:00-17:30", "Mo-Fr 08:00-12:00,14:00-17:30"),
        ("周一至周五 8:00-12:00，14:00-17:30", "Mo-Fr 08:00-12:00,14:00-17:30"),
        ("周一至周五 8:00-12:00 14:00-17:30", "Mo-Fr 08:00-12:00,14:00-17:30"),
        ("周一至周五 上午8:00-12:00 下午2:00-5:30", "Mo-Fr 08:00-12:00,14:00-17:30"),
        ("8:00-12:00、14:00-17:30", "08:00-12:00,14:00-17:30"),
        ("周一至周五 8点-17点半", "Mo-Fr 08:00-17:30"),
        ("周一至周五 8点30分-17点", "Mo-Fr 08:30-17:00"),
        ("周一至周五 8时-17时30分", "Mo-Fr 08:00-17:30"),
        ("周一至周五 8-17点", "Mo-Fr 08:00-17:00"),
        ("周一至周五 8:00至17:30", "Mo-Fr 08:00-17:30"),
        ("周一至周五 8:00到17:30", "Mo-Fr 08:00-17:30"),
        ("周一至周五 上午8:00-下午5:30", "Mo-Fr 08:00-17:30"),
        ("周一至周五 早上7点-晚上9点", "Mo-Fr 07:00-21:00"),
        ("每天 中午12点-下午2点", "Mo-Su 12:00-14:00"),
        ("每天 晚上8点-次日凌晨2点", "Mo-Su 20:00-02:00"),
        ("每天 18:00-次日2:00", "Mo-Su 18:00-02:00"),
        ("每天 20:00-0:00", "Mo-Su 20:00-24:00"),
        ("每天 晚上8点-12点", "Mo-Su 20:00-24:00"),
        (
            "周一至周五 8:00-17:30；周六 9:00-12:00；节假日休息",
            "Mo-Fr 08:00-17:30; Sa 09:00-12:00; PH off",
        ),
        (
            "周一至周五 8:00-17:30\n周六 9:00-12:00\n节假日休息",
            "Mo-Fr 08:00-17:30; Sa 09:00-12:00; PH off",
        ),
        ("周一至周五 8:00-17:30，周六 9:00-12:00", "Mo-Fr 08:00-17:30; Sa 09:00-12:00"),
        ("周一至周五 8:00-17:30。周六 9:00-12:00。", "Mo-Fr 08:00-17:30; Sa 09:00-12:00"),
        ("周一至周五\n8:00-17:30", "Mo-Fr 08:00-17:30"),
        ("开放时间：周一至周五 8:00-17:30", "Mo-Fr 08:00-17:30"),
        ("Mo-Fr 8:00-17:30；节假日休息", "Mo-Fr 08:00-17:30; PH off"),
        ("Mo-Fr 08:00-18:00\n节假日休息", "Mo-Fr 08:00-18:00; PH off"),
        ("周一至周五 8:00-17:30 “午休不关门”", 'Mo-Fr 08:00-17:30 "午休不关门"'),
        ("周六 全天", "Sa 00:00-24:00"),
        ("周日全天休息", "Su off"),
        ("暂停开放", "off"),
        ("Mo-Fr 8:00-17:30", "Mo-Fr 08:00-17:30"),
    ],
)
def test_chinese_forms(raw, osm):
    assert normalize(raw) == osm
    assert validate(raw) == osm
    assert convert(raw) == (osm, True)
    assert validate(osm) == osm  # the stored form is stable
    assert convert(osm) == (osm, False)


@pytest.mark.parametrize(
    ("raw", "position", "fragments"),
    [
        ("周一至周五", 0, ["缺少开放时间", "missing the hours"]),
        ("全年无休", 0, ["缺少开放时间"]),
        ("周六开放", 0, ["缺少开放时间"]),
        ("节假日照常", 0, ["缺少开放时间"]),
        ("周一至周五 8:00-5:30", 11, ["早于开始时间", "次日", "24-hour clock"]),
        ("周一至周五 18:00-2:00", 12, ["次日"]),
        ("周一至周五 8-17", 6, ["8:00 或 8点"]),
        ("周一至周五 8:00", 10, ["缺少结束时间"]),
        ("周一至周五 8:00-25:00", 11, ["时间无效"]),
        ("周一至周五 8:60-9:00", 6, ["时间无效"]),
        ("周一至周五 九点-五点", 6, ["应为星期", "expected days"]),
        ("周一至周五 8:00-17:30（午休12:00-13:30）", 16, ["不支持括号"]),
        ("周一 周二 8:00-9:00", 3, ["两组日期之间缺少时间"]),
        ("每天 8:00-17:30 周六", 14, ["缺少开放时间"]),
        ("abc 周一", 0, ["应为星期"]),
        ("周一至周五 8:00-8:00", 11, ["相同"]),
        ("周一至周五 8:00-次日9:00", 11, ["超过 24 小时"]),
    ],
)
def test_chinese_errors(raw, position, fragments):
    with pytest.raises(HoursError) as info:
        validate(raw)
    err = info.value
    assert err.position == position
    assert err.expr == raw  # positions refer to the text as typed
    text = str(err)
    assert text.startswith(f"开放时间无法识别（第 {position + 1} 个字符")
    assert " / cannot read the opening hours at position " in text
    for fragment in fragments:
        assert fragment in text


def test_osm_rules_beside_chinese_rules_keep_library_errors():
    with pytest.raises(HoursError) as info:
        validate("Mo-Fx 08:00；节假日休息")
    assert info.value.position == 3
    assert "此处应为星期" in str(info.value)


def test_convert_reports_only_real_changes():
    assert convert("Mo-Fr 08:00-18:00") == ("Mo-Fr 08:00-18:00", False)
    assert convert("  Mo-Fr  08:00-18:00;Sa 09:00-12:00 ") == (
        "Mo-Fr 08:00-18:00; Sa 09:00-12:00",
        False,
    )
    assert convert("Mo－Fr 08：00-18：00") == ("Mo-Fr 08:00-18:00", True)
    assert convert("全天") == ("24/7", True)
    with pytest.raises(HoursError):
        convert("周一至周五")


# --- Chinese display -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "zh"),
    [
        ("Mo-Fr 08:00-17:30; PH off", "周一至周五 08:00–17:30；法定节假日休息"),
        ("24/7", "24小时开放"),
        ("Mo-Su 07:00-11:30,13:30-20:00", "每天 07:00–11:30、13:30–20:00"),
        ("08:00-18:00", "每天 08:00–18:00"),
        ("Mo-Su 18:00-02:00", "每天 18:00–次日02:00"),
        ("Mo-Fr 18:00-26:00", "周一至周五 18:00–次日02:00"),
        ("Mo-Fr 00:00-24:00", "周一至周五 全天"),
        ("Sa,Su off", "周六、周日休息"),
        ("Sa-Su 10:00-16:00", "周六、周日 10:00–16:00"),
        ("Mo,We,Fr 08:00-12:00", "周一、周三、周五 08:00–12:00"),
        ("Mo-Sa 08:00-18:00; Su off", "周一至周六 08:00–18:00；周日休息"),
        (
            "Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00; PH off",
            "周一至周五 09:00–17:00；周六、周日 10:00–16:00；法定节假日休息",
        ),
        ("Sa,Su,PH off", "周六、周日及法定节假日休息"),
        ("PH 09:00-12:00", "法定节假日 09:00–12:00"),
        ("24/7; PH off", "24小时开放；法定节假日休息"),
        ("off", "不开放"),
        ("Mo-Fr", "周一至周五 全天"),
        ("Mo-Fr 08:00+", "周一至周五 08:00起"),
        ("Su[-1] 10:00-12:00", "每月最后一个周日 10:00–12:00"),
        ("Mo[1,3] 10:00-12:00", "每月第1个、第3个周一 10:00–12:00"),
        ('Mo-Fr 08:00-17:30 "午休不关门"', "周一至周五 08:00–17:30（午休不关门）"),
        ("Mo-Fr 08:00-18:00 || unknown", "周一至周五 08:00–18:00；其余时间：时间不定"),
        ("24/7 unknown", "营业时间不定"),
        # Rare syntax: the rule is shown word by word, in Chinese.
        ("Jan-Mar Mo-Fr 08:00-18:00", "1月-3月 周一至周五 08:00–18:00"),
        ("Dec 25 off", "12月25日 休息"),
        ("week 01-26 Mo 10:00-12:00", "周次 01-26 周一 10:00–12:00"),
        ("sunrise-sunset", "日出-日落"),
        ("Dec Su[-1] 10:00-12:00", "12月 每月最后一个周日 10:00–12:00"),
        ("Mo-Fr 08:00-12:00, Sa 10:00-12:00", "周一至周五 08:00–12:00，周六 10:00–12:00"),
        ("周一至周五 8:00-17:30；节假日休息", "周一至周五 08:00–17:30；法定节假日休息"),
    ],
)
def test_format_zh(expr, zh):
    assert format_zh(expr) == zh
    assert format_zh(parse(expr)) == zh


def test_format_zh_invalid_raises_and_status_says_so():
    with pytest.raises(HoursError):
        format_zh("Mo-Fx 08:00")
    st = status("Mo-Fx 08:00", WED)
    assert (st.valid, st.open, st.text_zh, st.hours_zh) == (False, False, INVALID_ZH, INVALID_ZH)


def test_status_hours_zh_and_next_open():
    st = status("周一至周五 8:00-17:30；节假日休息", WED)
    assert st.hours_zh == "周一至周五 08:00–17:30；法定节假日休息"
    assert st.open
    assert st.next_open == sh(2026, 11, 25, 13, 0)
    exact = datetime(2026, 11, 25, 13, 0, 42)
    assert status("Mo-Fr 08:00-17:30", exact).next_open == exact.replace(tzinfo=TZ)
    shut = status("Mo-Fr 08:00-17:30", SAT)
    assert not shut.open
    assert shut.next_open == sh(2026, 11, 30, 8, 0)
    assert shut.to_dict()["hours_zh"] == "周一至周五 08:00–17:30"


# --- the import report -----------------------------------------------------------------------


def test_import_reports_converted_hours(runner, store, tmp_path):
    path = tmp_path / "hours.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(
            [
                ["名称", "经度", "纬度", "开放时间"],
                ["甲", "116.84", "40.37", "Mo-Fr 08:00-17:30"],
                ["乙", "116.85", "40.37", "周一至周五 8:00-17:30"],
                ["丙", "116.86", "40.37", "周一至周五 8:00-12:00、14:00-17:30\n节假日休息"],
                ["丁", "116.87", "40.37", "全天"],
            ]
        )
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(dry_run=True))
    assert [(c.row, c.column, c.converted) for c in report.hours_converted] == [
        (3, "开放时间", "Mo-Fr 08:00-17:30"),
        (4, "开放时间", "Mo-Fr 08:00-12:00,14:00-17:30; PH off"),
        (5, "开放时间", "24/7"),
    ]
    summary = report.summary()
    assert "开放时间已转换为 OSM 格式 3 处" in summary
    assert "第 3 行「开放时间」：周一至周五 8:00-17:30 → Mo-Fr 08:00-17:30" in summary
    assert "第 4 行「开放时间」：周一至周五 8:00-12:00、14:00-17:30 ↵ 节假日休息 → " in summary
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert "第 5 行「开放时间」：全天 → 24/7" in r.output
    stored = store.stations().set_index("name")["opening_hours"]
    assert stored["乙"] == "Mo-Fr 08:00-17:30"
    assert stored["丙"] == "Mo-Fr 08:00-12:00,14:00-17:30; PH off"


def test_import_rejects_unreadable_chinese_hours_with_position(store, tmp_path):
    path = tmp_path / "bad.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(
            [
                ["名称", "经度", "纬度", "开放时间"],
                ["甲", "116.84", "40.37", "周一至周五 8:00-5:30"],
            ]
        )
    with pytest.raises(catalog._validate.ValidationError) as info:
        catalog.import_file(store, "stations", path)
    message = info.value.errors[0].message
    assert "第 12 个字符" in message
    assert "早于开始时间" in message
    assert len(store.stations()) == 104
