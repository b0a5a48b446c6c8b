"""``flask --app app district ...``: set the service up for a district (or a whole city).

``district set`` replaces the store's boundary (and its towns and water bodies) from files,
all or nothing, through :func:`geoservice.district.set_up`; ``district show`` prints the
profile every page, map, answer and file takes its words from.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from geoservice import district as _district
from geoservice.crs import CRS_NAMES
from geoservice.errors import DistrictError, NetworkError, OsmError, StoreError
from geoservice.store import catalog
from geoservice.web import get_district, get_library, get_store
from geoservice.web.cli_progress import ImportProgress

district_cli = AppGroup(
    "district", help="The district (or city) the service is set up for: its profile."
)

_FILE = click.Path(exists=False, dir_okay=False, path_type=Path)


@district_cli.command("set")
@click.option("--boundary", required=True, type=_FILE, help="Polygons: GeoJSON, GPKG, SHP …")
@click.option(
    "--crs",
    "source_crs",
    type=click.Choice(CRS_NAMES, case_sensitive=False),
    default="wgs84",
    show_default=True,
    help="CRS of the files' coordinates: gcj02 = Amap/Tencent, bd09 = Baidu.",
)
@click.option("--name", required=True, help="区名 / the district's Chinese name, e.g. 密云区.")
@click.option("--code", required=True, help="区划代码 / the district's code, e.g. 110118.")
@click.option("--name-en", default=None, help="English name (default: kept, or the name).")
@click.option("--org", default=None, help="主办单位 (default: kept, or <name>总工会).")
@click.option("--org-en", default=None, help="The organisation's English name.")
@click.option(
    "--depot-town",
    default=None,
    help="乡镇 of the caravan base that tours start from ('' for none; default: kept).",
)
@click.option("--towns", type=_FILE, default=None, help="Towns: code, name, seat lon/lat.")
@click.option("--water", type=_FILE, default=None, help="Water bodies: polygons with name.")
@click.option("--dry-run", is_flag=True, help="Check the files; change nothing.")
def district_set(**options) -> None:
    """Set the service up for a district: its boundary, names, towns and water bodies.

    All or nothing. Towns and water bodies not given are kept for the same district
    (--code) and emptied for another one (a district may have no towns). Stations are
    never deleted: those outside the new boundary are counted. An imported road network
    is built again for the new boundary.
    """
    words = {k: options[k] for k in ("code", "name", "name_en", "org", "org_en", "depot_town")}
    try:
        report = _district.set_up(
            get_store(),
            options["boundary"],
            words=words,
            towns=options["towns"],
            water=options["water"],
            source_crs=options["source_crs"],
            dry_run=options["dry_run"],
        )
    except DistrictError as exc:
        raise click.ClickException(exc.report(50)) from exc
    except StoreError as exc:
        msg = f"{exc}\n数据未改变 / nothing was changed"
        raise click.ClickException(msg) from exc
    click.echo(report.summary())
    if not options["dry_run"]:
        _rebuild_network()


def _rebuild_network() -> None:
    """Build an imported network again: it was clipped to the old boundary (the shipped
    network is never clipped)."""
    library = get_library()
    source = library.active_source()
    if source == library.default_source:
        return
    progress = ImportProgress()
    try:
        nets = library.import_file(source, progress)
    except (OsmError, NetworkError, ValueError, OSError) as exc:
        click.echo(
            f"警告：路网未能按新区界重建，请重新导入 / warning: the road network could not be "
            f"built for the new boundary; import it again: {exc}",
            err=True,
        )
        return
    finally:
        progress.close()
    outside = any(net.meta.get("outside_district") for net in nets.values())
    zh, en = _district.OUTSIDE_NETWORK
    note = f"（{zh} / {en}）" if outside else ""
    click.echo(f"  已按新区界重建路网 / road network rebuilt for the new boundary{note}")


@district_cli.command("show")
def district_show() -> None:
    """Print the district profile."""
    d = get_district()
    store = get_store()
    towns = catalog.town_names(store)
    depot = f"{d.depot_town} {towns.get(d.depot_town, '')}".strip() or "—"
    west, south, east, north = d.bounds
    waters = "、".join(w.label for w in d.waters) or "—"
    click.echo(f"{d.name}（{d.code}）/ {d.name_en}")
    click.echo(f"  主办单位 / organisation: {d.org} / {d.org_en}")
    click.echo(f"  乡镇 / towns: {len(towns)}，默认出发乡镇 / default depot town: {depot}")
    click.echo(f"  水域 / water: {waters}")
    click.echo(f"  投影 / metric CRS: {d.metric_crs}")
    click.echo(f"  范围 / bounds: {west:.4f}, {south:.4f}, {east:.4f}, {north:.4f} (W, S, E, N)")
    try:
        outside = get_library().outside_district()
    except (NetworkError, OsmError):
        outside = False
    if outside:
        zh, en = _district.OUTSIDE_NETWORK
        click.echo(f"  注意 / note: {zh} / {en}")
