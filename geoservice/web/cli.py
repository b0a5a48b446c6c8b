"""``flask --app app ...`` commands: stations/sites import and export, store, data build."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from geoservice import coverage
from geoservice.crs import CRS_NAMES
from geoservice.district import OUTSIDE_NETWORK, WATER_LAYER
from geoservice.errors import BudgetError, MovesNeedConfirmationError, format_bytes
from geoservice.nearest import EngineProvider, labels_memory
from geoservice.network import Network, NetworkError
from geoservice.network.osm import OsmError
from geoservice.store import StoreError, catalog
from geoservice.store.tables import MAX_REPORTED_ERRORS, FileFormatError
from geoservice.store.validate import ValidationError
from geoservice.web import (
    DEFAULT_GPKG,
    DEFAULT_NETWORK,
    ENGINE_KEY,
    cli_coverage,
    cli_district,
    cli_hours,
    cli_tours,
    cli_users,
    get_engine,
    get_library,
    get_store,
)
from geoservice.web.cli_progress import ImportProgress

_NOTHING_IMPORTED = "未导入任何数据，数据未改变 / nothing was imported; the data is unchanged"
_CONFIRM_HINT = (
    "请核对上面列出的移动；确认无误请加 --confirm 重新运行 / check the moves listed above; "
    "if they are right, run the import again with --confirm"
)


def _provider() -> EngineProvider:
    return current_app.extensions[ENGINE_KEY]


def _layer_group(layer: str, label: str) -> AppGroup:
    group = AppGroup(layer, help=f"Import and export {layer} ({label}).")

    @group.command("import")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--crs",
        "source_crs",
        type=click.Choice(CRS_NAMES, case_sensitive=False),
        default=None,
        help="文件坐标系 / CRS of the file's coordinates: gcj02 = Amap/Tencent, bd09 = Baidu. "
        "Default: the CRS the headers name (经度(GCJ02)), else wgs84; one that contradicts "
        "the headers is refused.",
    )
    @click.option("--replace", "mode", flag_value="replace", help="The file becomes the layer.")
    @click.option("--upsert", "mode", flag_value="upsert", help="Update known ids, add others.")
    @click.option("--dry-run", is_flag=True, help="Validate and report only; write nothing.")
    @click.option(
        "--confirm",
        "confirm_moves",
        is_flag=True,
        help=f"确认移动 / Apply an upsert that moves points more than "
        f"{catalog.MOVE_CONFIRM_M:g} m (without it such an upsert lists them and writes nothing).",
    )
    @click.option("--allow-outside", is_flag=True, help="Accept points outside the district.")
    @click.option(
        "--allow-duplicates",
        is_flag=True,
        help="导入疑似重复的行 / Import rows that look like one already there "
        "(same name within 50 m, or the same coordinates).",
    )
    @click.option("--sheet", default=None, help="XLSX sheet or GeoPackage layer to read.")
    def import_cmd(file: Path, **options: Any) -> None:
        """Import FILE (.csv, .xlsx, .geojson, .gpkg); all rows or none."""
        try:
            report = catalog.import_file(
                get_store(),
                layer,
                file,
                catalog.ImportOptions(**{**options, "mode": options["mode"] or "append"}),
            )
        except ValidationError as exc:
            raise click.ClickException(exc.report(MAX_REPORTED_ERRORS)) from exc
        except MovesNeedConfirmationError as exc:
            click.echo(exc.report.summary())
            msg = f"{exc}\n{_CONFIRM_HINT}"
            raise click.ClickException(msg) from exc
        except (FileFormatError, StoreError, ValueError) as exc:
            msg = f"{exc}\n{_NOTHING_IMPORTED}"
            raise click.ClickException(msg) from exc
        click.echo(report.summary())
        if report.confirm_needed:  # a dry run: the import itself would be refused
            click.echo(_CONFIRM_HINT)

    @group.command("export")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--headers",
        type=click.Choice(["en", "zh"]),
        default="en",
        show_default=True,
        help="Column headers for CSV/XLSX; zh also writes Chinese values (kinds, amenities, "
        "opening hours, town names) that import back unchanged.",
    )
    @click.option(
        "--crs",
        type=click.Choice(CRS_NAMES, case_sensitive=False),
        default="wgs84",
        show_default=True,
        help="坐标系 / CRS of a CSV/XLSX file's coordinates, named in its headers "
        "(经度(GCJ02)); GeoJSON and GeoPackage are always wgs84.",
    )
    def export_cmd(file, headers, crs):
        """Export to FILE; the format comes from the extension."""
        try:
            n = catalog.export_file(get_store(), layer, file, headers=headers, crs=crs)
        except (FileFormatError, StoreError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"已导出 {n} 条 / exported {n} {layer} to {file}")

    return group


store_cli = AppGroup("store", help="The live store in the instance folder.")


@store_cli.command("info")
def store_info():
    """Print the store location and layer counts."""
    store = get_store()
    click.echo(f"store: {store.location()} (revision {store.revision()})")
    for layer in ("stations", "sites", "towns", "boundary", WATER_LAYER):
        click.echo(f"  {layer:10s} {len(store.read(layer)):5d}")


data_cli = AppGroup("data", help="The shipped base data in data/.")


@data_cli.command("build")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_GPKG)
def data_build(out):
    """Rebuild data/miyun.gpkg from data/raw (deterministic)."""
    from tools import basedata  # a build tool: imported only when it runs

    layers = basedata.build_layers()
    basedata.write_gpkg(layers, out)
    for name, gdf in layers.items():
        click.echo(f"{name:10s} {len(gdf):4d}")
    click.echo(f"wrote {out}")


@data_cli.command("schematic")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_NETWORK)
@click.option("--gpkg", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_GPKG)
@click.option("--seed", type=int, default=None, help="Random seed (default: the shipped one).")
def data_schematic(out, gpkg, seed):
    """Regenerate the schematic Miyun road network (data/network, deterministic)."""
    from tools import schematic  # a build tool: imported only when it runs

    summary = schematic.write_osm(out, gpkg, schematic.DEFAULT_SEED if seed is None else seed)
    click.echo(f"wrote {out} ({summary['bytes']:,} bytes, {summary['seconds']} s)")


network_cli = AppGroup("network", help="Road networks (walk, bike, drive) for routing.")


def _summary(nets) -> None:
    for mode, net in nets.items():
        d = net.describe()
        flag = " [schematic]" if d["schematic"] else ""
        outside = net.meta.get("outside_district")
        extra = f" [{OUTSIDE_NETWORK[0]} / outside the district: kept whole]" if outside else ""
        click.echo(f"  {mode:5s} {d['nodes']:7d} nodes {d['edges']:7d} edges{flag}{extra}")


def _budget_summary(nets: dict[str, Network]) -> None:
    """The engine's memory (networks, snapping indexes, labels) against the budget, and
    whether answers are stale."""
    provider = _provider()
    nodes = {mode: net.n_nodes for mode, net in nets.items()}
    one = labels_memory(nodes, provider.k)
    network = sum(net.nbytes() for net in nets.values())
    need = network + 2 * one
    verdict = "超出预算 / over the budget" if need > provider.budget else "在预算内 / within budget"
    click.echo(
        f"路由数据 / routing data: 路网与吸附索引 / networks and snapping indexes "
        f"{format_bytes(network)}；每个节点 {provider.k} 个最近站点 / nearest stations per node"
        f" → 每种筛选约 / about {format_bytes(one)} per station filter，"
        f"预算 / budget {format_bytes(provider.budget)}（{verdict}）"
    )
    engine = provider.built  # only an engine this process built can be stale
    if engine is not None and engine.stale:
        click.echo(f"路由数据过期 / routing data is stale: {engine.stale['reason']}")


def _clip_report(nets) -> None:
    """Say what a clipped extract lacked (node references outside the file)."""
    meta = next(iter(nets.values())).meta if nets else {}
    dropped, refs = meta.get("dropped_refs", 0), meta.get("node_refs", 0)
    if not dropped:
        return
    cut = meta.get("cut_ways", 0)
    click.echo(
        f"  文件外的节点引用 {dropped:,} / {refs:,} 个已舍弃，{cut:,} 条道路在缺失处截断 / "
        f"{dropped:,} of {refs:,} node references are outside the file (a clipped extract): "
        f"dropped, {cut:,} ways cut there"
    )


@network_cli.command("info")
def network_info():
    """Show the active network and its size per mode (builds the cache if needed)."""
    library = get_library()
    started = time.perf_counter()
    nets = library.load()
    click.echo(f"active network: {library.active_source()} ({time.perf_counter() - started:.1f} s)")
    _summary(nets)
    _clip_report(nets)
    click.echo(f"  地名点 / place nodes: {len(library.places())}")
    _budget_summary(nets)


@network_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def network_import(file):
    """Import an OSM extract (.osm, .osm.bz2, .osm.pbf, .graphml) and make it active.

    Extracts larger than the district are clipped to it; ways of a clipped extract are cut
    where their nodes are missing. Nothing changes if it fails. The steps are shown on
    stderr as they start; the service keeps answering from the previous network until
    the new one is written and switched to.
    """
    started = time.perf_counter()
    library = get_library()
    progress = ImportProgress()
    size = file.stat().st_size / 2**20
    progress.echo(f"导入路网 / importing {file.name} ({size:,.1f} MB)")
    try:
        nets = library.import_file(file, progress)
    except (OsmError, NetworkError, ValueError, OSError) as exc:
        msg = f"{exc}\n未导入，当前路网不变 / not imported; the active network is unchanged"
        raise click.ClickException(msg) from exc
    finally:
        progress.close()
    click.echo(f"已导入路网 / imported {file.name} in {time.perf_counter() - started:.1f} s")
    _summary(nets)
    _clip_report(nets)
    click.echo(f"  地名点 / place nodes: {len(library.places())}")


@network_cli.command("fetch")
@click.option("--place", required=True, help='e.g. "密云区, 北京市, 中国"')
@click.option("--timeout", default=20.0, show_default=True, help="Seconds per request.")
def network_fetch(place, timeout):
    """Download a place's roads with osmnx (needs the internet) and make them active."""
    try:
        nets = get_library().fetch(place, timeout=timeout)
    except (OsmError, NetworkError) as exc:
        msg = (
            f"{exc}\n下载失败（需要联网），当前路网不变 / "
            "download failed (needs the internet); the active network is unchanged"
        )
        raise click.ClickException(msg) from exc
    _summary(nets)


@network_cli.command("reset")
def network_reset():
    """Go back to the shipped (schematic) network."""
    get_library().reset()
    click.echo(f"active network: {get_library().active_source()}")


@network_cli.command("warm")
def network_warm():
    """Load the networks and make the default filter's labels (faster first query)."""
    started = time.perf_counter()
    try:
        engine = get_engine()
        engine.refresh()
    except BudgetError as exc:
        msg = f"{exc}\n路由数据未建立 / the routing labels were not built"
        raise click.ClickException(msg) from exc
    click.echo(f"ready in {time.perf_counter() - started:.1f} s")
    _summary(engine.networks)
    _budget_summary(engine.networks)
    # The coverage kernel's machine code is kept on disk: compiled here once, every later
    # start of the service only loads it.
    started = time.perf_counter()
    state = coverage.warm_kernel()
    click.echo(f"覆盖计算内核 / coverage kernel: {state}, {time.perf_counter() - started:.1f} s")


def register(app: Flask) -> None:
    """Attach the command groups to ``app.cli``."""
    app.cli.add_command(_layer_group("stations", "暖心驿站、职工之家、大篷车基地"))
    app.cli.add_command(_layer_group("sites", "村、社区、水库保护点"))
    app.cli.add_command(store_cli)
    app.cli.add_command(data_cli)
    app.cli.add_command(network_cli)
    cli_hours.register(app)
    app.cli.add_command(cli_district.district_cli)
    app.cli.add_command(cli_tours.tours_cli)
    app.cli.add_command(cli_coverage.coverage_cli)
    app.cli.add_command(cli_users.users_cli)
