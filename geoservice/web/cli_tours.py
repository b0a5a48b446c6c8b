"""``flask --app app tours ...``: plan caravan tours, list and show saved plans."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask.cli import AppGroup

from geoservice.errors import ParameterError, StoreError, TourNotFoundError
from geoservice.network import NetworkError
from geoservice.tours import export as tour_export
from geoservice.tours.request import TourRequest
from geoservice.web import get_district, get_planner, get_tour_store

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns

tours_cli = AppGroup("tours", help="Caravan tours (区级大篷车巡回路线): plan, list, show.")

_STEPS = {"matrix": "计算站点间车程 / travel times", "schedule": "排定日程 / schedule"}


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``ID=VALUE`` options → ``{ID: VALUE}``."""
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            msg = f"{option} 应写成 编号=值，而不是 {v!r} / {option} takes ID=VALUE, not {v!r}"
            raise click.BadParameter(msg)
        out[key.strip()] = value.strip()
    return out


class _Progress:
    """Step lines for the quick steps, a progress bar over the search's iterations."""

    def __init__(self) -> None:
        self.bar: ProgressBar[int] | None = None
        self.done = 0
        self.started = time.perf_counter()

    def __call__(self, step: str, done: int, total: int) -> None:
        if step == "solve":
            if self.bar is None:
                self.bar = click.progressbar(
                    length=max(total, 1), label="搜索路线 / searching", show_eta=False
                )
                self.bar.__enter__()
            self.bar.update(max(0, min(done, total) - self.done))
            self.done = min(done, total)
            return
        self.close()
        if done == 0:
            elapsed = time.perf_counter() - self.started
            click.echo(f"[{elapsed:5.1f} s] {_STEPS.get(step, step)} …")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@tours_cli.command("plan")
@click.option(
    "--stops",
    "stops",
    multiple=True,
    required=True,
    help="What to visit: a kind (reservoir_site, village, community, warm_station…), a town "
    "(code, 鼓楼街道, 鼓楼 or Gulou: its sites), TOWN:KIND (溪翁庄镇:village) or a stop id; "
    "repeat or separate with commas: the selections add up.",
)
@click.option("--days", default="1", show_default=True, help="Days available (1–31).")
@click.option(
    "--depot",
    default=None,
    help="Depot station id (default: the caravan base of the district's depot town).",
)
@click.option(
    "--start-date",
    default=None,
    help="First day, YYYY-MM-DD (weekends and public holidays skipped).",
)
@click.option("--include-days-off", is_flag=True, help="Plan on weekends and holidays too.")
@click.option("--day-start", default=None, help="Working day start, HH:MM (08:30).")
@click.option("--day-end", default=None, help="Working day end, HH:MM (17:30).")
@click.option("--lunch", default=None, help="Lunch break minutes (60; 0 for none).")
@click.option(
    "--service", default=None, help="Minutes at every stop (default: per kind; stations 30)."
)
@click.option("--service-for", multiple=True, help="ID=MINUTES for one stop (repeatable).")
@click.option("--window", multiple=True, help="ID=HH:MM-HH:MM: the visit lies in it.")
@click.option(
    "--optional",
    multiple=True,
    help="SELECTOR or SELECTOR=PRIORITY (1 high … 5; default 3), selectors as for --stops: "
    "those stops are optional (added if --stops does not select them); repeatable.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the plan: .gpx .csv .xlsx .geojson .html .json (format from the extension).",
)
def tours_plan(out: Path | None, **options: Any) -> None:
    """Plan a multi-day caravan tour on the drive network and save it."""
    if out is not None:
        try:
            tour_export.format_of(out)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--out") from exc
    values = _request_values(options)
    progress = _Progress()
    try:
        saved = get_planner().plan(TourRequest.parse(values), progress)
    except ParameterError as exc:
        progress.close()
        lines = [exc.message]
        lines += [
            f"  {s['id']} {s.get('name', '')}：{s['reason']}"
            for s in getattr(exc, "stops", [])[:50]
        ]
        raise click.ClickException("\n".join(lines)) from exc
    except (NetworkError, StoreError) as exc:
        progress.close()
        raise click.ClickException(str(exc)) from exc
    progress.close()
    _print_plan(saved)
    if out is not None:
        tour_export.write(saved, out, get_district().org)
        click.echo(f"已写出 / wrote {out}")


def _request_values(options: Mapping[str, Any]) -> dict[str, object]:
    """The tour request's values (:class:`TourRequest`'s names) from the plan options."""
    return {
        "stops": list(options["stops"]),
        "days": options["days"],
        "depot": options["depot"],
        "start_date": options["start_date"],
        "skip_days_off": not options["include_days_off"],
        "day_start": options["day_start"],
        "day_end": options["day_end"],
        "lunch_minutes": options["lunch"],
        "service_minutes": _services(options["service"], options["service_for"]),
        "time_windows": _pairs(options["window"], "--window") or None,
        "optional": _priorities(options["optional"]) or None,
    }


def _services(service: str | None, service_for: tuple[str, ...]) -> object:
    """``--service`` minutes, or the ``--service-for`` ``{ID: MINUTES}`` (not both)."""
    if not service_for:
        return service
    services = _pairs(service_for, "--service-for")
    if service is not None:
        msg = "--service 与 --service-for 只能选一个 / use --service or --service-for"
        raise click.UsageError(msg)
    return services


def _priorities(values: tuple[str, ...]) -> dict[str, str | None]:
    """``SELECTOR`` or ``SELECTOR=PRIORITY`` options → ``{SELECTOR: PRIORITY or None}``."""
    out: dict[str, str | None] = {}
    for v in values:
        key, _, prio = v.partition("=")
        out[key.strip()] = prio.strip() or None
    return out


def _print_plan(saved: dict) -> None:
    result = saved["result"]
    s = result["summary"]
    click.echo(f"方案 / plan {saved['id']}")
    if result.get("schematic"):
        click.echo("注意：示意路网，车程仅供参考 / schematic network: times are indicative")
    for note in result.get("notices", []):
        click.echo(f"注意：{note['zh']} / {note['en']}")
    for day in result["days"]:
        when = " ".join(x for x in (day.get("date"), day.get("weekday")) if x)
        t = day["totals"]
        click.echo(
            f"第 {day['day']} 天 {when} {day['depart']}–{day['return']}："
            f"{t['stops']} 站，{t['distance_km']} km，车程 {t['drive_min']:.0f} 分钟"
        )
        for stop in day["stops"]:
            note = "（示意位置）" if stop.get("coord_source") == "schematic" else ""
            click.echo(f"  {stop['seq']:>2}. {stop['start']}–{stop['end']} {stop['name']}{note}")
        lunch = day.get("lunch")
        if lunch:
            click.echo(f"      午餐 {lunch['start']}–{lunch['end']} @ {lunch['name']}")
    click.echo(
        f"合计 / total：{s['days_used']} 天，{s['stops_served']} 站，{s['distance_km']} km，"
        f"车程 {s['drive_hours']} 小时，服务 {s['service_hours']} 小时"
    )
    for u in result.get("unserved", []):
        click.echo(f"未安排 / unserved {u['id']} {u['name']}：{u['reason']}")


@tours_cli.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
def tours_list(limit: int) -> None:
    """List saved plans, newest first."""
    plans = get_tour_store().list(limit)
    if not plans:
        click.echo("还没有保存的方案 / no saved plans")
        return
    for p in plans:
        flag = " [示意路网]" if p["schematic"] else ""
        click.echo(
            f"{p['id']}  {p['created'][:16]}  {p['start_date'] or '-':10s}  "
            f"{p['days_used']}/{p['days_available']} 天  {p['stops_served']} 站  "
            f"{p['distance_km']} km  未安排 {p['unserved']}{flag}"
        )


@tours_cli.command("show")
@click.argument("plan_id")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write it: .gpx .csv .xlsx .geojson .html .json",
)
def tours_show(plan_id: str, out: Path | None) -> None:
    """Show a saved plan (and optionally export it)."""
    try:
        saved = get_tour_store().get(plan_id)
    except TourNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_plan(saved)
    if out is not None:
        try:
            tour_export.write(saved, out, get_district().org)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--out") from exc
        click.echo(f"已写出 / wrote {out}")
