"""Tests for geoservice.holidays and for evaluating opening hours on China's real calendar.

2026 (shipped, 国办发明电〔2025〕7号): Spring Festival off 02-15 … 02-23, make-up working
Saturdays 02-14 and 02-28; National Day off 10-01 … 10-07, make-up days 09-20 (Sunday) and
10-10 (Saturday).
"""

from __future__ import annotations

import csv
import os
from datetime import date, datetime, timedelta

import numpy as np
import opening_hours
import pytest
from conftest import make_app

from geoservice import holidays, hours
from geoservice.errors import HolidayFileError
from geoservice.hours import TZ, open_mask, parse, status
from geoservice.web import create_app

HEADER = ["date", "type", "name", "notice", "published", "url"]
NOTICE = "国办发明电〔2026〕9号"
URL = "https://www.gov.cn/zhengce/zhengceku/202611/content_0000000.htm"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(autouse=True)
def _shipped_calendar():
    """Every test starts and ends with the shipped table in force."""
    holidays.reset()
    yield
    holidays.reset()


def year_rows(year: int = 2027) -> list[list[str]]:
    """A complete-looking arrangement for `year` (invented: 2027 is not announced here)."""
    off = [date(year, 1, 1)]
    off += [date(year, 2, 6) + timedelta(days=i) for i in range(8)]
    off += [date(year, 4, 5)]
    off += [date(year, 5, 1) + timedelta(days=i) for i in range(5)]
    off += [date(year, 6, 9)]
    off += [date(year, 9, 15)]
    off += [date(year, 10, 1) + timedelta(days=i) for i in range(7)]
    names = {1: "元旦", 2: "春节", 4: "清明节", 5: "劳动节", 6: "端午节", 9: "中秋节", 10: "国庆节"}
    rows = [[d.isoformat(), "off", names[d.month], NOTICE, "2026-11-10", URL] for d in off]
    for d in (date(year, 2, 20), date(year, 9, 26)):  # a Saturday and a Sunday
        rows.append(
            [d.isoformat(), "workday", names[d.month if d.month != 9 else 10], NOTICE, "", URL]
        )
    return rows


def write_csv(path, rows, header=HEADER, encoding="utf-8") -> str:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


# --- the shipped table -----------------------------------------------------------------------


def test_shipped_table_years_and_counts():
    cal = holidays.current()
    assert sorted(cal.years) == [2024, 2025, 2026]
    per_year = {
        y: (
            sum(1 for d in cal.off if d.year == y),
            sum(1 for d in cal.workdays if d.year == y),
        )
        for y in (2024, 2025, 2026)
    }
    assert per_year == {2024: (28, 8), 2025: (28, 5), 2026: (33, 6)}
    for d in cal.workdays:
        assert d.weekday() >= 5  # make-up days are weekend days


@pytest.mark.parametrize(
    ("day", "kind", "name"),
    [
        (date(2026, 1, 1), "off", "元旦"),
        (date(2026, 1, 4), "workday", "元旦"),
        (date(2026, 2, 14), "workday", "春节"),
        (date(2026, 2, 15), "off", "春节"),
        (date(2026, 2, 23), "off", "春节"),
        (date(2026, 2, 24), None, None),
        (date(2026, 2, 28), "workday", "春节"),
        (date(2026, 9, 20), "workday", "国庆节"),
        (date(2026, 10, 4), "off", "国庆节"),  # a Sunday inside the break
        (date(2026, 10, 10), "workday", "国庆节"),
        (date(2025, 10, 8), "off", "国庆节、中秋节"),
        (date(2025, 1, 26), "workday", "春节"),
        (date(2024, 2, 18), "workday", "春节"),
        (date(2024, 6, 10), "off", "端午节"),
        (date(2024, 6, 8), None, None),  # 与周末连休: an ordinary Saturday
        (date(2026, 11, 25), None, None),
    ],
)
def test_shipped_days(day, kind, name):
    cal = holidays.current()
    assert cal.kind(day) == kind
    row = cal.get(day)
    assert (row.name if row else None) == name
    if row is not None:
        assert row.notice.startswith("国办发明电")
        assert row.url.startswith("https://www.gov.cn/")


def test_shipped_notices():
    rows = holidays.current().rows(2026)
    assert {(r.notice, r.published, r.url) for r in rows} == {
        (
            "国办发明电〔2025〕7号",
            date(2025, 11, 4),
            "https://www.gov.cn/zhengce/zhengceku/202511/content_7047091.htm",
        )
    }


def test_the_library_calendar_is_not_enough():
    # Why the table exists: the library's CN calendar marks one day per festival.
    native = opening_hours.OpeningHours("PH", country="CN")
    assert native.is_open(datetime(2026, 10, 1, 12))
    assert not native.is_open(datetime(2026, 10, 2, 12))
    assert holidays.current().kind(date(2026, 10, 2)) == "off"


# --- the required scenarios ---------------------------------------------------------------


def test_make_up_saturday_follows_weekday_rules():
    h = parse("Mo-Fr 08:00-18:00; Sa,Su off")
    assert h.is_open(datetime(2026, 2, 14, 10, 0))  # make-up Saturday
    assert not h.is_open(datetime(2026, 2, 14, 18, 30))
    assert not h.is_open(datetime(2026, 2, 21, 10, 0))  # an ordinary (holiday) Saturday
    assert h.is_open(datetime(2026, 9, 20, 10, 0))  # make-up Sunday
    assert h.describe_zh(datetime(2026, 2, 14, 10, 0)) == "营业中 · 18:00 关闭"
    assert h.next_open(datetime(2026, 2, 14, 7, 0)) == sh(2026, 2, 14, 8, 0)


def test_ph_off_closes_every_day_off():
    h = parse("Mo-Fr 08:00-18:00; PH off")
    assert not h.is_open(datetime(2026, 10, 1, 10, 0))
    assert not h.is_open(datetime(2026, 2, 16, 10, 0))  # Monday in the Spring Festival
    assert h.is_open(datetime(2026, 2, 14, 10, 0))  # make-up Saturday
    assert h.is_open(datetime(2026, 2, 24, 10, 0))
    for d in holidays.current().off:
        if d.weekday() < 5:
            assert not h.is_open(datetime.combine(d, datetime.min.time()) + timedelta(hours=10))
    assert h.next_open(datetime(2026, 9, 30, 19, 0)) == sh(2026, 10, 8, 8, 0)
    assert h.describe_zh(datetime(2026, 10, 1, 10, 0)) == "已关闭 · 国庆节放假 · 10月8日 08:00 开放"


def test_make_up_day_is_a_monday():
    at = datetime(2026, 2, 14, 10, 0)
    assert parse("Mo-Sa 08:00-12:00").is_open(at)
    assert not parse("Tu-Su 09:00-17:00").is_open(at)  # closed on Mondays
    assert parse("Mo 09:00-11:00; Tu-Fr 12:00-13:00").is_open(at)
    assert not parse("Fr 09:00-11:00").is_open(at)
    # The real date still counts for dates and n-th weekdays.
    assert parse("Feb 14 09:00-11:00").is_open(at)
    assert not parse("Mo[2] 09:00-11:00").is_open(at)


def test_outside_the_table_holidays_are_unknown():
    h = parse("Mo-Fr 08:00-18:00; PH off; Sa,Su off")
    assert not holidays.current().covers(date(2027, 10, 1))
    assert h.is_open(datetime(2027, 10, 1, 10, 0))  # Friday; PH never matches in 2027
    assert not h.is_open(datetime(2023, 10, 7, 10, 0))  # a 2023 make-up Saturday: unknown


def test_working_days_for_the_tour_planner():
    cal = holidays.current()
    assert cal.is_day_off(date(2026, 10, 1))  # National Day, a Thursday
    assert cal.is_workday(date(2026, 10, 10))  # a make-up Saturday
    assert cal.is_day_off(date(2026, 10, 11))  # an ordinary Sunday
    assert cal.is_workday(date(2026, 10, 12))
    assert cal.is_day_off(date(2027, 10, 2))  # outside the table: a Saturday is off
    assert cal.is_workday(date(2027, 10, 1))  # and holidays are unknown


def test_current_calendar_follows_an_import(tmp_path):
    working = holidays.CurrentCalendar()
    assert working.is_workday(date(2027, 10, 1))
    holidays.import_file(write_csv(tmp_path / "2027.csv", year_rows()), tmp_path / "holidays")
    assert working.is_day_off(date(2027, 10, 1))
    assert working.is_workday(date(2027, 2, 20))  # its make-up Saturday


def test_holiday_offsets_and_midnight():
    # The day before and after a day off.
    before = parse("PH -1 day 10:00-12:00")
    assert before.is_open(datetime(2026, 9, 30, 11, 0))
    assert before.is_open(datetime(2026, 10, 6, 11, 0))  # 10-07 is off too
    assert not before.is_open(datetime(2026, 10, 7, 11, 0))
    after = parse("PH +1 day 10:00-12:00")
    assert after.is_open(datetime(2026, 10, 8, 11, 0))
    assert after.is_open(datetime(2026, 10, 2, 11, 0))  # 10-01 is off
    assert not after.is_open(datetime(2026, 10, 1, 11, 0))  # 09-30 is not
    # An evening range spilling into a day off is cut by PH off (the library's rule).
    night = parse("Mo-Su 18:00-02:00; PH off")
    assert not night.is_open(datetime(2026, 10, 1, 1, 0))
    assert night.is_open(datetime(2026, 9, 30, 23, 0))
    assert not night.is_open(datetime(2026, 10, 1, 19, 0))
    assert night.next_close(datetime(2026, 9, 30, 23, 0)) == sh(2026, 10, 1, 0, 0)


# Agreement with the library's own holiday handling, on the library's own calendar ------------

NATIVE_CN_2026 = [
    "2026-01-01",
    "2026-02-17",
    "2026-05-01",
    "2026-06-19",
    "2026-09-25",
    "2026-10-01",
]
EXPRESSIONS = [
    "Mo-Fr 08:00-18:00; PH off",
    "Mo-Su 18:00-02:00; PH off",
    "PH 10:00-12:00",
    "Sa,Su,PH off; Mo-Su 09:00-17:00",
    "Mo-Su 09:00-17:00; Sa,Su,PH off",
    "PH +1 day 10:00-12:00",
    "PH -1 day 10:00-12:00",
    "Mo-Fr 08:00-18:00; PH 20:00-26:00",
    "Mo-Su 20:00-04:00; PH 10:00-12:00",
    "24/7; PH off",
    "Th 22:00-03:00; PH off",
    "Mo-Fr 08:00-12:00,13:00-17:00; PH off || unknown",
    "PH,Sa 10:00-12:00",
    "Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00; PH off",
    "We-Fr 18:00-03:00; PH 19:00-01:00",
    "PH off; Mo-Fr 08:00-18:00",
    "Jan-Jun PH 10:00-12:00; Mo-Fr 08:00-09:00",
    "Mo[1] 10:00-12:00; PH off",
    "SH off; Mo-Fr 08:00-18:00",
]


def test_rewriting_agrees_with_the_library_on_its_own_calendar():
    days = [date.fromisoformat(d) for d in NATIVE_CN_2026]
    rows = [holidays.HolidayDay(d, "off", "x", "n", None, "", 2026) for d in days]
    holidays.set_current(holidays.Calendar(rows))
    for expr in EXPRESSIONS:
        native = opening_hours.OpeningHours(expr, country="CN")
        ours = parse(expr)
        for d in days:
            start = datetime.combine(d, datetime.min.time()) - timedelta(days=2)
            for k in range(5 * 24 * 4):
                t = start + timedelta(minutes=15 * k)
                assert ours.is_open(t) == native.is_open(t), (expr, t)


# All answers agree, across midnight and around special days ---------------------------------

AGREE = [
    "Mo-Fr 08:00-18:00; PH off",
    "Mo-Fr 08:00-18:00; Sa,Su off",
    "Mo-Su 18:00-02:00; PH off",
    "Mo-Fr 20:00-03:00; Sa,Su,PH off",
    "Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00; PH off",
    "Mo 07:00-09:00; PH -1 day 22:00-26:00",
]
STARTS = [
    datetime(2026, 2, 13, 17, 0),
    datetime(2026, 9, 19, 22, 0),
    datetime(2026, 9, 30, 21, 0),
    datetime(2026, 10, 9, 12, 0),
]


@pytest.mark.parametrize("expr", AGREE)
def test_all_answers_agree(expr):
    h = parse(expr)
    step = timedelta(minutes=10)  # every time in AGREE is on a 10-minute boundary
    for start in STARTS:
        scan = [start + i * step for i in range(int(hours.HORIZON / step))]
        states = [h.is_open(t) for t in scan]
        first_open = next((t for t, s in zip(scan, states, strict=True) if s), None)
        first_shut = next((t for t, s in zip(scan, states, strict=True) if not s), None)
        assert h.next_open(start) == (first_open and first_open.replace(tzinfo=TZ))
        assert h.next_close(start) == (first_shut and first_shut.replace(tzinfo=TZ))
        for t, s in list(zip(scan, states, strict=True))[::7]:
            st = status(expr, t)
            assert st.open == s
            assert st.text_zh.startswith("营业中" if s else "已关闭")
            assert st.next_open == h.next_open(t)
            assert open_mask([expr, "24/7"], t).tolist() == [s, True]


def test_caches_follow_the_calendar():
    at = datetime(2026, 11, 25, 10, 0)  # an ordinary Wednesday
    expr = "Mo-Fr 08:00-18:00; PH off"
    assert open_mask([expr], at).tolist() == [True]
    assert status(expr, at).open
    row = holidays.HolidayDay(date(2026, 11, 25), "off", "测试", "n", None, "", 2026)
    holidays.set_current(holidays.Calendar([row]))
    assert open_mask([expr], at).tolist() == [False]
    assert not status(expr, at).open
    assert not parse(expr).is_open(at)
    holidays.reset()
    assert open_mask([expr], at).tolist() == [True]


# --- reading and validating tables ---------------------------------------------------------


def test_read_table_valid(tmp_path):
    rows = holidays.read_table(write_csv(tmp_path / "y.csv", year_rows()))
    assert len(rows) == 26
    assert {r.year for r in rows} == {2027}
    assert rows[0].day == date(2027, 1, 1)
    assert rows[0].published == date(2026, 11, 10)


def test_read_table_chinese_headers_types_and_gbk(tmp_path):
    header = ["日期", "类型", "名称", "文号", "发布日期", "网址"]
    rows = [
        [r[0].replace("-", "/"), "放假" if r[1] == "off" else "上班", *r[2:]] for r in year_rows()
    ]
    path = write_csv(tmp_path / "gbk.csv", rows, header, encoding="gbk")
    got = holidays.read_table(path)
    assert sum(r.type == "workday" for r in got) == 2
    assert got[0].name == "元旦"


def test_new_year_in_late_december_belongs_to_the_next_year(tmp_path):
    rows = year_rows()
    rows.append(["2026-12-31", "off", "元旦", NOTICE, "", URL])
    got = holidays.read_table(write_csv(tmp_path / "y.csv", rows))
    assert {r.year for r in got} == {2027}


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (
            lambda r: r.__setitem__(3, ["2027-02-30", "off", "春节", NOTICE, "", URL]),
            ["第 5 行", "日期无效"],
        ),
        (
            lambda r: r.__setitem__(3, ["2027-02-08", "holiday?", "春节", NOTICE, "", URL]),
            ["第 5 行", "off"],
        ),
        (
            lambda r: r.append(["2027-01-01", "off", "元旦", NOTICE, "", URL]),
            ["第 28 行", "第 2 行重复"],
        ),
        (
            lambda r: r.append(["2027-03-03", "workday", "春节", NOTICE, "", URL]),
            ["周六或周日", "周三"],
        ),
        (
            lambda r: r.__setitem__(0, ["2027-01-01", "off", "", NOTICE, "", URL]),
            ["第 2 行", "name is empty"],
        ),
        (
            lambda r: r.__setitem__(0, ["2027-01-01", "off", "元旦", "", "", URL]),
            ["第 2 行", "notice"],
        ),
        (
            lambda r: r.__setitem__(0, ["2027-01-01", "off", "元旦", NOTICE, "昨天", URL]),
            ["published"],
        ),
        (
            lambda r: r.__setitem__(0, ["2027-01-01", "off", "元旦", NOTICE, "", "javascript:x"]),
            ["http(s)"],
        ),
        (lambda r: r.pop(0), ["1 月 1 日（元旦）不是放假日", "incomplete"]),
        (lambda r: r.clear(), None),
    ],
)
def test_read_table_errors(tmp_path, edit, fragments):
    rows = year_rows()
    edit(rows)
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(HolidayFileError) as info:
        holidays.read_table(path)
    report = info.value.report()
    assert "未导入" in report
    assert "nothing was imported" in report
    for fragment in fragments or ["没有数据行"]:
        assert fragment in report


def test_read_table_reports_every_bad_row(tmp_path):
    rows = year_rows()
    rows[1][0] = "x"
    rows[2][1] = "y"
    rows[3][3] = ""
    with pytest.raises(HolidayFileError) as info:
        holidays.read_table(write_csv(tmp_path / "bad.csv", rows))
    assert [p.split("，")[0] for p in info.value.problems] == ["第 3 行", "第 4 行", "第 5 行"]


def _problems(path) -> str:
    with pytest.raises(HolidayFileError) as info:
        holidays.read_table(path)
    return info.value.report()


def test_read_table_file_problems(tmp_path):
    assert "缺少列 type" in _problems(write_csv(tmp_path / "h.csv", [], ["date", "name", "notice"]))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "文件是空的" in _problems(empty)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (holidays.MAX_BYTES + 1))
    assert "文件过大" in _problems(big)
    many = [["2027-01-01", "off", "元旦", NOTICE, "", URL]] * (holidays.MAX_ROWS + 1)
    assert "行数过多" in _problems(write_csv(tmp_path / "many.csv", many))
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x00" * 10)
    assert "未导入" in _problems(binary)
    assert "无法读取" in _problems(tmp_path / "missing.csv")


# --- import and the instance folder --------------------------------------------------------


def test_import_saves_one_file_per_year_and_reloads(tmp_path):
    folder = tmp_path / "holidays"
    src = write_csv(tmp_path / "2027.csv", year_rows())
    summary = holidays.import_file(src, folder)
    assert summary.years == (2027,)
    assert summary.replaced == ()
    assert (folder / "cn-2027.csv").exists()
    assert "已导入 2027 年" in summary.summary()
    cal = holidays.current()
    assert sorted(cal.years) == [2024, 2025, 2026, 2027]
    assert cal.kind(date(2027, 10, 1)) == "off"
    assert cal.kind(date(2027, 2, 20)) == "workday"
    assert not parse("Mo-Fr 08:00-18:00; PH off").is_open(datetime(2027, 10, 1, 10, 0))
    assert parse("Mo-Fr 08:00-18:00; Sa,Su off").is_open(datetime(2027, 2, 20, 10, 0))
    # The saved file is a valid table by itself.
    assert len(holidays.read_table(folder / "cn-2027.csv")) == 26


def test_import_replaces_a_whole_year(tmp_path):
    folder = tmp_path / "holidays"
    rows = holidays.current().rows(2026)
    table = [
        [r.day.isoformat(), r.type, r.name, r.notice, r.published.isoformat(), r.url]
        for r in rows
        if r.day != date(2026, 2, 28)  # a corrected notice without this make-up day
    ]
    summary = holidays.import_file(write_csv(tmp_path / "fix.csv", table), folder)
    assert summary.replaced == (2026,)
    cal = holidays.current()
    assert cal.kind(date(2026, 2, 28)) is None
    assert cal.kind(date(2026, 2, 14)) == "workday"
    assert "替换" in summary.summary()
    assert cal.origin[2026].endswith("cn-2026.csv")


def test_import_is_all_or_nothing(tmp_path):
    folder = tmp_path / "holidays"
    rows = year_rows() + [[r[0].replace("2027", "2028"), *r[1:]] for r in year_rows(2028)]
    rows[-1][1] = "bad"
    with pytest.raises(HolidayFileError):
        holidays.import_file(write_csv(tmp_path / "two.csv", rows), folder)
    assert not folder.exists() or not list(folder.iterdir())
    assert sorted(holidays.current().years) == [2024, 2025, 2026]


def test_configure_ignores_a_broken_instance_file_and_watches_the_folder(
    tmp_path, monkeypatch, caplog
):
    folder = tmp_path / "holidays"
    folder.mkdir()
    (folder / "broken.csv").write_text("date,type\n2027-01-01,off\n", encoding="utf-8")
    cal = holidays.configure(folder)
    assert sorted(cal.years) == [2024, 2025, 2026]
    assert "broken.csv" in caplog.text
    # A table written by another process is picked up without a restart.
    monkeypatch.setattr(holidays, "RECHECK_SECONDS", 0.0)
    write_csv(folder / "cn-2027.csv", year_rows())
    os.utime(folder / "cn-2027.csv")
    assert 2027 in holidays.current().years


# --- the web app and the command line ------------------------------------------------------


@pytest.fixture(scope="module")
def module_app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("holapp"))


@pytest.fixture
def hol_app(module_app, tmp_path, monkeypatch):
    """One app for the module; each test gets its own holiday folder."""
    monkeypatch.setitem(module_app.config, "HOLIDAYS_DIR", str(tmp_path / "holidays"))
    return module_app


def test_app_loads_instance_tables(module_app, tmp_path):
    folder = tmp_path / "hol"
    folder.mkdir()
    write_csv(folder / "cn-2027.csv", year_rows())
    config = {k: module_app.config[k] for k in ("STORE_PATH", "NETWORK_DIR", "NETWORK_DEFAULT")}
    create_app({"TESTING": True, "TILES": "", "HOLIDAYS_DIR": str(folder), **config})
    assert 2027 in holidays.current().years
    assert holidays.directory() == folder


def test_cli_import_list_and_check(hol_app, tmp_path):
    runner = hol_app.test_cli_runner()
    src = write_csv(tmp_path / "2027.csv", year_rows())
    result = runner.invoke(args=["hours", "holidays", "import", src])
    assert result.exit_code == 0, result.output
    assert "已导入 2027 年" in result.output
    assert (tmp_path / "holidays" / "cn-2027.csv").exists()
    result = runner.invoke(args=["hours", "holidays", "list", "--year", "2026"])
    assert result.exit_code == 0, result.output
    assert "国办发明电〔2025〕7号" in result.output
    spring = "春节：放假 2026-02-15 至 2026-02-23（9 天）；调休上班 2026-02-14（周六）、2026-02-28"
    assert spring in result.output
    result = runner.invoke(args=["hours", "holidays", "list"])
    assert "2027 年" in result.output
    assert "cn-2027.csv" in result.output
    result = runner.invoke(args=["hours", "holidays", "list", "--year", "2030"])
    assert result.exit_code == 1
    assert "没有 2030 年" in result.output


def test_cli_import_bad_file(hol_app, tmp_path):
    rows = year_rows()
    rows[4][0] = "2027-13-01"
    result = hol_app.test_cli_runner().invoke(
        args=["hours", "holidays", "import", write_csv(tmp_path / "bad.csv", rows)]
    )
    assert result.exit_code == 1
    assert "第 6 行，列「date」：日期无效" in result.output
    assert not (tmp_path / "holidays").exists()
    assert 2027 not in holidays.current().years


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ["周一至周五 8:00-17:30；节假日休息", "--at", "2026-10-01T10:00"],
            [
                "OSM：Mo-Fr 08:00-17:30; PH off（由原文转换 / converted）",
                "中文：周一至周五 08:00–17:30；法定节假日休息",
                "时间 / at：2026-10-01 10:00 周四（法定节假日 · 国庆节 / public holiday）",
                "状态 / status：关闭 / closed · 已关闭 · 国庆节放假 · 10月8日 08:00 开放",
            ],
        ),
        (
            ["Mo-Fr 08:00-18:00; Sa,Su off", "--at", "2026-02-14 10:00"],
            [
                "OSM：Mo-Fr 08:00-18:00; Sa,Su off",
                "时间 / at：2026-02-14 10:00 周六（调休上班日 · 春节，按周一的时间",
                "状态 / status：开放 / open · 营业中 · 18:00 关闭",
            ],
        ),
        (
            ["Mo-Fr 08:00-18:00; PH off", "--at", "2027-10-01T02:00Z"],
            ["状态 / status：开放 / open", "没有 2027 年的节假日安排，PH（法定节假日）不生效"],
        ),
    ],
)
def test_cli_check(hol_app, args, lines):
    result = hol_app.test_cli_runner().invoke(args=["hours", "check", *args])
    assert result.exit_code == 0, result.output
    for line in lines:
        assert line in result.output


def test_cli_check_errors(hol_app):
    runner = hol_app.test_cli_runner()
    result = runner.invoke(args=["hours", "check", "周一至周五 8:00-5:30"])
    assert result.exit_code == 1
    assert "第 12 个字符" in result.output
    assert "次日" in result.output
    result = runner.invoke(args=["hours", "check", "24/7", "--at", "tomorrow"])
    assert result.exit_code == 1
    assert "时间格式无效" in result.output


def test_status_mask_array_input_on_holiday():
    exprs = np.array(["Mo-Fr 08:00-18:00; PH off", "24/7", None], dtype=object)
    at = datetime(2026, 10, 2, 10, 0)
    assert open_mask(exprs, at, on_error="closed").tolist() == [False, True, False]
