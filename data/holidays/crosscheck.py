"""Cross-check data/holidays/cn.csv against independent holiday packages (developer tool).

Not used at run or test time. Fetch the packages with their registries' own clients, then
run this script on the folder::

    mkdir -p /tmp/hol && cd /tmp/hol
    pip download --no-deps chinesecalendar==1.11.0 holidays==0.108 -d .
    npm pack chinese-days@1.5.7
    python data/holidays/crosscheck.py /tmp/hol [--holiday-cn DIR]

``--holiday-cn`` is a folder with ``YYYY.json`` files of the holiday-cn data set
(NateScarlet/holiday-cn), which also records the gov.cn notice each year came from.

For every year of the table it compares, date by date, the days off and the make-up
working days with: chinesecalendar (``chinese_calendar.constants``), chinese-days
(``dist/years/YYYY.json``), holiday-cn, and python-holidays (``holidays.China``, which lists
the statutory days and the substituted days off but not the weekends inside a break: every
date it lists must be a day off of the table, every Monday–Friday day off of the table
must be listed, and its "substituted from" dates must be the table's make-up days).
Exit status 1 when any source disagrees.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tarfile
import tempfile
import zipfile
from datetime import date, datetime
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "cn.csv"


def _table() -> tuple[dict[int, set[date]], dict[int, set[date]], dict[int, str]]:
    off: dict[int, set[date]] = {}
    work: dict[int, set[date]] = {}
    urls: dict[int, str] = {}
    with open(TABLE, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            d = date.fromisoformat(row["date"])
            (off if row["type"] == "off" else work).setdefault(d.year, set()).add(d)
            urls[d.year] = row["url"]
    years = set(off) | set(work)
    return {y: off.get(y, set()) for y in years}, {y: work.get(y, set()) for y in years}, urls


def _unpack(folder: Path, into: Path) -> None:
    for wheel in folder.glob("*.whl"):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(into)
    for tgz in folder.glob("chinese-days-*.tgz"):
        with tarfile.open(tgz) as t:
            t.extractall(into / "chinese-days", filter="data")


def _compare(name: str, year: int, kind: str, ours: set[date], theirs: set[date]) -> bool:
    if ours == theirs:
        return True
    print(f"  {name} {year} {kind}: only in table {sorted(ours - theirs)}")
    print(f"  {name} {year} {kind}: only in {name} {sorted(theirs - ours)}")
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the packages were downloaded")
    parser.add_argument("--holiday-cn", type=Path, default=None, help="holiday-cn JSON folder")
    args = parser.parse_args()
    off, work, urls = _table()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = Path(tmp)
        _unpack(args.folder, unpacked)
        sys.path.insert(0, str(unpacked))
        import chinese_calendar
        import holidays

        sub_re = re.compile(r"substituted from (\d{2}/\d{2}/\d{4})")
        for year in sorted(off):
            print(f"{year}: {len(off[year])} days off, {len(work[year])} make-up days")
            cc_off = {d for d in chinese_calendar.constants.holidays if d.year == year}
            cc_work = {d for d in chinese_calendar.constants.workdays if d.year == year}
            ok &= _compare("chinesecalendar", year, "off", off[year], cc_off)
            ok &= _compare("chinesecalendar", year, "workday", work[year], cc_work)
            data = json.loads(
                (unpacked / "chinese-days/package/dist/years" / f"{year}.json").read_text()
            )
            ok &= _compare("chinese-days", year, "off", off[year], set(map(_iso, data["holidays"])))
            ok &= _compare(
                "chinese-days", year, "workday", work[year], set(map(_iso, data["workdays"]))
            )
            if args.holiday_cn is not None:
                hcn = json.loads((args.holiday_cn / f"{year}.json").read_text())
                days = hcn["days"]
                ok &= _compare(
                    "holiday-cn",
                    year,
                    "off",
                    off[year],
                    {_iso(d["date"]) for d in days if d["isOffDay"]},
                )
                ok &= _compare(
                    "holiday-cn",
                    year,
                    "workday",
                    work[year],
                    {_iso(d["date"]) for d in days if not d["isOffDay"]},
                )
                if hcn["papers"] != [urls[year]]:
                    print(f"  holiday-cn {year}: notice {hcn['papers']} != table {urls[year]}")
                    ok = False
            listed = dict(holidays.China(years=year, language="en_US").items())
            made_up = {
                datetime.strptime(m.group(1), "%m/%d/%Y").date()
                for label in listed.values()
                for m in [sub_re.search(label)]
                if m
            }
            weekdays_off = {d for d in off[year] if d.weekday() < 5}
            listed_days = {d for d in listed if d.year == year}
            if not listed_days <= off[year]:
                extra = sorted(listed_days - off[year])
                print(f"  holidays {year}: not days off in the table {extra}")
                ok = False
            ok &= _compare(
                "holidays",
                year,
                "Mon-Fri off",
                weekdays_off,
                {d for d in listed_days if d.weekday() < 5},
            )
            ok &= _compare("holidays", year, "workday", work[year], made_up)
    print("all sources agree" if ok else "DISAGREEMENT")
    return 0 if ok else 1


def _iso(text: str) -> date:
    return date.fromisoformat(text)


if __name__ == "__main__":
    sys.exit(main())
