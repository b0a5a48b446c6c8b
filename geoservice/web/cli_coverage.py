"""``flask --app app coverage ...``: figures per town, suggested sites, the static site."""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

import click
from flask.cli import AppGroup

from geoservice.coverage import CoverageQuery, siting
from geoservice.errors import GeoserviceError, ParameterError
from geoservice.i18n import DEFAULT_LANG, LANGS
from geoservice.web import get_coverage

coverage_cli = AppGroup(
    "coverage", help="Coverage against the ACFTU standard (1 km, 15-minute walk)."
)


def _filters(f):
    """The options every coverage command takes (checked by the core parser)."""
    for decorator in reversed(
        [
            click.option("--mode", default="walk", show_default=True, help="walk, bike or drive."),
            click.option(
                "--minutes",
                default=None,
                help="Threshold(s) in minutes, e.g. 15 or 5,10,15 (default by mode).",
            ),
            click.option("--kind", multiple=True, help="Station kind(s); default warm_station."),
            click.option("--amenity", multiple=True, help="Amenities a station must offer."),
            click.option(
                "--open-at",
                default=None,
                help="Count only stations open then (ISO time, Asia/Shanghai), "
                "e.g. 2026-11-25T02:00.",
            ),
        ]
    ):
        f = decorator(f)
    return f


def _args(mode, minutes, kind, amenity, open_at, **extra) -> dict:
    return {
        "mode": mode,
        "minutes": minutes,
        "kind": list(kind) or None,
        "amenity": list(amenity) or None,
        "open_at": open_at,
        **extra,
    }


def _fail(exc: Exception) -> click.ClickException:
    if isinstance(exc, ParameterError):
        return click.ClickException(f"参数 / parameter {exc.parameter}: {exc}")
    return click.ClickException(str(exc))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain-text table that lines up Chinese (double-width) text."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


@coverage_cli.command("stats")
@_filters
def stats_cmd(mode, minutes, kind, amenity, open_at):
    """Coverage figures for the district and per town (towns approximate)."""
    try:
        query = CoverageQuery.parse(_args(mode, minutes, kind, amenity, open_at))
        started = time.perf_counter()
        cov = get_coverage().compute(query)
    except (GeoserviceError, ValueError) as exc:
        raise _fail(exc) from exc
    seconds = time.perf_counter() - started
    d = cov.district
    label = (
        f"{cov.network['mode_label']} {', '.join(str(m) for m in query.to_dict()['minutes'])} 分钟"
    )
    click.echo(
        f"覆盖统计 / coverage: {label}; {len(cov.stations)} 个站点 stations ({seconds:.2f} s)"
    )
    for n in cov.notices:
        click.echo(f"  ! {n['zh']} / {n['en']}")
    click.echo(
        f"居民生产道路 / people roads {d['road_km']:.1f} km (全路网 / all roads "
        f"{d['all_road_km']:.1f} km); 1 公里内 / within 1 km (ACFTU): {_pct(d['acftu_share'])}"
    )
    headers = ["乡镇(近似) town", "道路 km"]
    for m in query.to_dict()["minutes"]:
        headers += [f"{m}分钟覆盖 cov", f"{m}分钟面积 km²", f"{m}分钟双站 ≥2"]
    headers += ["村庄 villages", "村庄覆盖 vil.", "1公里 ACFTU"]
    rows = []
    for t in [*cov.towns, {"name": "全区 district", **d}]:
        row = [t["name"], f"{t['road_km']:.1f}"]
        for th in t["thresholds"]:
            row += [_pct(th["covered_share"]), f"{th['area_km2']:.2f}", f"{th['cross_km']:.1f} km"]
        last = t["thresholds"][-1]
        row += [t["villages"], _pct(last["villages_share"]), _pct(t["acftu_share"])]
        rows.append(row)
    click.echo(_table(headers, rows))
    if cov.villages:
        click.echo(f"未覆盖村庄（社区） / uncovered villages: {len(cov.villages)}")
        vrows = [
            [
                v["name"],
                v["town"],
                "—" if v["travel_time_min"] is None else v["travel_time_min"],
                "示意" if v["schematic"] else "",
            ]
            for v in cov.villages[:50]
        ]
        click.echo(_table(["村庄 village", "乡镇 town", "最近站点分钟 min", "位置"], vrows))


@coverage_cli.command("suggest")
@_filters
@click.option("--n", "n", default="10", show_default=True, help="New stations to place (1–50).")
@click.option(
    "--objective",
    default="roads",
    show_default=True,
    help="roads (uncovered road length) or villages (located villages).",
)
def suggest_cmd(mode, minutes, kind, amenity, open_at, n, objective):
    """Suggest N new station sites that cover the most (existing stations fixed)."""
    try:
        query = siting.SitingQuery.parse(
            _args(mode, minutes, kind, amenity, open_at, n=n, objective=objective)
        )
        started = time.perf_counter()
        result = siting.suggest(get_coverage(), query)
    except (GeoserviceError, ValueError) as exc:
        raise _fail(exc) from exc
    seconds = time.perf_counter() - started
    cq = query.coverage
    click.echo(
        f"新站选址 / suggested sites: {query.n} 个, {result.network['mode_label']} "
        f"{cq.to_dict()['minutes'][-1]} 分钟, 目标 objective = {query.objective} ({seconds:.1f} s)"
    )
    for notice in result.notices:
        click.echo(f"  ! {notice['zh']} / {notice['en']}")
    rows = [
        [
            s["rank"],
            f"{s['lon']:.6f}",
            f"{s['lat']:.6f}",
            s["town"],
            f"+{s['added_road_km']:.2f}",
            f"+{s['added_villages']}",
            _pct(s["covered_share_after"]),
            _pct(s["villages_share_after"]),
        ]
        for s in result.sites
    ]
    click.echo(
        _table(
            [
                "序号 #",
                "经度 lon",
                "纬度 lat",
                "乡镇(近似) town",
                "新增道路 km",
                "新增村庄",
                "道路覆盖率 after",
                "村庄覆盖率 after",
            ],
            rows,
        )
    )
    b, a = result.before, result.after
    click.echo(
        f"道路覆盖 / road coverage: {_pct(b['covered_share'])} → {_pct(a['covered_share'])} "
        f"({b['covered_km']:.1f} → {a['covered_km']:.1f} km of {a['road_km']:.1f} km)"
    )
    click.echo(
        f"村庄覆盖 / villages: {b['villages_covered']} → {a['villages_covered']} of {a['villages']}"
    )
    sc = result.set_cover
    click.echo(
        f"覆盖全部已定位村庄需新建 / new stations to cover every located village: "
        f"{sc['stations_needed']}{'' if sc['optimal'] else ' (未证最优 / not proven optimal)'}"
        + (f"; {sc['note_zh']}" if sc["note_zh"] else "")
    )
    s, g = result.solver, result.greedy
    click.echo(
        f"求解 / solver: {s['solver']} {s['status']}, 模型目标 objective {s['objective']:.0f} "
        f"(贪心 greedy {g['objective']:.0f}), {s['candidates']} 候选点 candidates, "
        f"{s['demand_rows']} 需求行 demand rows, {s['seconds']:.2f} s"
    )


@coverage_cli.command("publish")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("maps"),
    show_default=True,
    help="Folder of the static site (replaced as a whole).",
)
@click.option(
    "--allow-sample",
    is_flag=True,
    help="Publish even from sample stations or a schematic network (the map says so).",
)
@_filters
@click.option("--n", "n", default="10", show_default=True, help="Suggested sites on the map.")
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    default=DEFAULT_LANG,
    show_default=True,
    help="Language of the map page and the per-town tables.",
)
def publish_cmd(out, allow_sample, n, lang, **filters):
    """Write the coverage map as a static site (opens from file://, no internet)."""
    from geoservice.coverage import publish

    try:
        report = publish.publish(
            get_coverage(),
            out,
            _args(**filters, n=n),
            allow_sample=allow_sample,
            lang=lang,
        )
    except (GeoserviceError, ValueError, OSError) as exc:
        raise _fail(exc) from exc
    click.echo(report)
