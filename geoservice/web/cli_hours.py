"""``flask --app app hours ...``: check opening hours, list and import public holidays.

- ``hours check EXPR [--at TIME]`` prints the OSM form of EXPR (as staff type it, e.g.
  ``周一至周五 8:00-17:30；节假日休息``), its Chinese form and whether it is open at TIME
  (default now), naming a holiday or make-up working day.
- ``hours holidays list [--year YEAR]`` lists the holiday arrangements in force.
- ``hours holidays import FILE`` adds (or replaces) years from a CSV (see
  :mod:`geoservice.holidays`); they are saved in ``<instance>/holidays/`` (or the app's
  ``HOLIDAYS_DIR``) and used by every process of the service within half a minute.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from geoservice import holidays, hours
from geoservice.errors import HolidayFileError, HoursError

_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

hours_cli = AppGroup("hours", help="开放时间与法定节假日 / opening hours and public holidays.")
holidays_cli = AppGroup("holidays", help="法定节假日与调休安排 / public holidays and make-up days.")
hours_cli.add_command(holidays_cli)


def holidays_folder(app: Flask) -> Path:
    """Where an app keeps imported holiday tables: ``HOLIDAYS_DIR`` or
    ``<instance>/holidays``."""
    return Path(app.config.get("HOLIDAYS_DIR") or os.path.join(app.instance_path, "holidays"))


def _day_note(day: date) -> str:
    calendar = holidays.current()
    row = calendar.get(day)
    if row is not None and row.type == "off":
        return f"（法定节假日 · {row.name} / public holiday）"
    if row is not None:
        return f"（调休上班日 · {row.name}，按周一的时间 / make-up working day, Monday's hours）"
    return ""


@hours_cli.command("check")
@click.argument("expr")
@click.option("--at", "at_text", default=None, help="ISO 8601 time in Asia/Shanghai; default now.")
def check_cmd(expr: str, at_text: str | None) -> None:
    """Show EXPR in OSM syntax and in Chinese, and whether it is open at --at."""
    try:
        osm, changed = hours.convert(expr)
    except HoursError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        at = hours.parse_time(at_text) if at_text else hours.as_local(None)
    except ValueError as exc:
        msg = f"时间格式无效 / {exc}"
        raise click.ClickException(msg) from exc
    state = hours.status(osm, at)
    click.echo(f"OSM：{osm}" + ("（由原文转换 / converted）" if changed else ""))
    click.echo(f"中文：{state.hours_zh}")
    click.echo(f"时间 / at：{at:%Y-%m-%d %H:%M} {_WEEKDAYS_ZH[at.weekday()]}{_day_note(at.date())}")
    verdict = "开放 / open" if state.open else "关闭 / closed"
    click.echo(f"状态 / status：{verdict} · {state.text_zh}")
    if not holidays.current().covers(at.date()):
        click.echo(
            f"注意：没有 {at.year} 年的节假日安排，PH（法定节假日）不生效，也没有调休上班日"
            f"（用 hours holidays import 添加）/ no holiday arrangement for {at.year}: PH never "
            "matches and no day is a make-up working day (add it with hours holidays import)"
        )


def _ranges(days: list[date]) -> str:
    """``[10-01 … 10-07]`` → ``2026-10-01 至 2026-10-07（7 天）``; gaps start new ranges."""
    out: list[str] = []
    start = prev = None
    for d in [*days, None]:
        if d is not None and prev is not None and d == prev + timedelta(days=1):
            prev = d
            continue
        if start is not None and prev is not None:
            n = (prev - start).days + 1
            out.append(f"{start} 至 {prev}（{n} 天）" if n > 1 else f"{start}（1 天）")
        start = prev = d
    return "、".join(out)


@holidays_cli.command("list")
@click.option("--year", type=int, default=None, help="Only this arrangement year.")
def list_cmd(year: int | None) -> None:
    """List the days off and make-up working days in force, by year and festival."""
    calendar = holidays.current()
    covered = sorted(calendar.years)
    if year is not None and year not in calendar.years:
        shown = "、".join(map(str, covered)) or "无 / none"
        msg = (
            f"没有 {year} 年的节假日安排（已有：{shown}）；PH 在这一年不生效 / no holiday "
            f"arrangement for {year} (covered: {', '.join(map(str, covered)) or 'none'})"
        )
        raise click.ClickException(msg)
    for y in [year] if year is not None else covered:
        rows = calendar.rows(y)
        notices = dict.fromkeys((r.notice, r.published, r.url) for r in rows)
        for notice, published, url in notices:
            when = f"，{published}" if published else ""
            click.echo(f"{y} 年 · {notice}{when} {url}".rstrip())
        click.echo(f"  来源 / from: {calendar.origin.get(y, '?')}")
        # Festival → its first day off (else its first row), for the order.
        first: dict[str, date] = {}
        for r in rows:
            if r.type == "off":
                first.setdefault(r.name, r.day)
        for r in rows:
            first.setdefault(r.name, r.day)
        for name in sorted(first, key=first.__getitem__):
            off = [r.day for r in rows if r.name == name and r.type == "off"]
            work = [r.day for r in rows if r.name == name and r.type == "workday"]
            line = f"  {name}：放假 {_ranges(off)}" if off else f"  {name}："
            if work:
                made_up = "、".join(f"{d}（{_WEEKDAYS_ZH[d.weekday()]}）" for d in work)
                line += f"；调休上班 {made_up}"
            click.echo(line)
    click.echo(
        f"共 {len(covered)} 年：{len(calendar.off)} 个放假日，{len(calendar.workdays)} 个调休"
        f"上班日；其他年份 PH 不生效 / {len(covered)} year(s): {len(calendar.off)} days off, "
        f"{len(calendar.workdays)} make-up working days; PH never matches in other years"
    )


@holidays_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_cmd(file: Path) -> None:
    """Add or replace years from FILE (CSV: date,type,name,notice,published,url)."""
    try:
        summary = holidays.import_file(file, holidays_folder(current_app))
    except HolidayFileError as exc:
        raise click.ClickException(exc.report(limit=50)) from exc
    click.echo(summary.summary())


def register(app: Flask) -> None:
    """Add the ``hours`` command group to `app`."""
    app.cli.add_command(hours_cli)
