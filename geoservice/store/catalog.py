"""The catalogue of stations and sites: import, export and queries over a :class:`Store`.

This is the library API the CLI and the web layer call; neither adds logic of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoservice import crs as _crs
from geoservice import district as _district
from geoservice import hours as _hours
from geoservice.errors import ParameterError, excerpt
from geoservice.model import SITE_KINDS, Station
from geoservice.network.places import SCHEMATIC_LABEL
from geoservice.store import EDITABLE_LAYERS, Store
from geoservice.store import tables as _io
from geoservice.store import validate as _validate
from geoservice.store.towns import Towns

MODES = ("append", "upsert", "replace")
_ID_PREFIX = {
    "warm_station": "WS",
    "worker_home": "WH",
    "public_worker_home": "PWH",
    "caravan_base": "CB",
    "village": "V",
    "community": "C",
    "reservoir_site": "RS",
}


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    layer: str
    path: str
    rows: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    hours_converted: list[_validate.HoursConversion] = field(default_factory=list)
    #: Rows imported although they look like duplicates (``allow_duplicates=True``).
    duplicates: list[_validate.RowError] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines, Chinese first."""
        verb = "将" if self.dry_run else "已"
        head = "[dry run] " if self.dry_run else ""
        text = (
            f"{head}{self.path}: {self.rows} 行有效；{verb}新增 {len(self.added)}，"
            f"更新 {len(self.updated)}，删除 {len(self.removed)} / {self.rows} valid rows; "
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}"
        )
        if self.ignored_columns:
            shown = ", ".join(excerpt(c) for c in self.ignored_columns[:_SHOWN_COLUMNS])
            more = len(self.ignored_columns) - _SHOWN_COLUMNS
            if more > 0:
                shown += f" … (+{more})"
            text += f"\n忽略的列 / ignored columns: {shown}"
        if self.hours_converted:
            n, more = len(self.hours_converted), len(self.hours_converted) - _SHOWN_HOURS
            text += f"\n开放时间已转换为 OSM 格式 {n} 处 / {n} opening_hours cell(s) converted:"
            text += "".join(f"\n  {c}" for c in self.hours_converted[:_SHOWN_HOURS])
            if more > 0:
                text += f"\n  … 另有 {more} 处 / and {more} more"
        if self.duplicates:
            n = len(self.duplicates)
            text += f"\n按要求保留的疑似重复 {n} 行 / {n} likely duplicate row(s) kept as asked:"
            text += "".join(f"\n  {e}" for e in self.duplicates[:_SHOWN_DUPLICATES])
            if n > _SHOWN_DUPLICATES:
                text += f"\n  … 另有 {n - _SHOWN_DUPLICATES} 行 / and {n - _SHOWN_DUPLICATES} more"
        return text


_SHOWN_COLUMNS = 20
_SHOWN_HOURS = 50
_SHOWN_DUPLICATES = 20


def _check_editable(layer: str) -> None:
    if layer not in EDITABLE_LAYERS:
        msg = (
            f"图层应为 {'、'.join(EDITABLE_LAYERS)} / layer must be one of "
            f"{', '.join(EDITABLE_LAYERS)}, not {excerpt(layer)}"
        )
        raise ValueError(msg)


def validate_file(
    store: Store,
    layer: str,
    path: str | Path,
    *,
    source_crs: str = "wgs84",
    allow_outside: bool = False,
    sheet: str | None = None,
) -> tuple[gpd.GeoDataFrame, _io.Table]:
    """Read and validate a file for ``layer``; raise ValidationError listing every bad row."""
    _check_editable(layer)
    source_crs = _crs.normalize_crs(source_crs)
    table = _io.read_table(path, sheet)
    towns = store.read("towns")
    check = _validate.validate_stations if layer == "stations" else _validate.validate_sites
    gdf = check(
        table,
        district=_district.current(store),
        towns=towns,
        source_crs=source_crs,
        allow_outside=allow_outside,
    )
    return gdf, table


@dataclass(frozen=True)
class ImportOptions:
    """How a file is imported: the options of ``flask stations import`` (and ``sites``).

    Attributes
    ----------
    mode : str
        ``append`` (default; an id already in the store is an error), ``upsert`` (rows
        with a known id replace it, the others are added) or ``replace`` (the file becomes
        the whole layer).
    source_crs : str
        ``wgs84``, ``gcj02`` or ``bd09``: the CRS of the file's coordinates.
    allow_outside : bool
        Accept points outside the district.
    allow_duplicates : bool
        Import rows that look like a station already there (same name within 50 m, or the
        same coordinates; :func:`geoservice.store.validate.duplicates`); they are listed in the
        report. Without it such rows refuse the file, so importing one file twice adds
        nothing. A taken site code is refused either way.
    dry_run : bool
        Validate and report, write nothing.
    sheet : str or None
        The XLSX sheet or GeoPackage layer to read.

    Raises
    ------
    ValueError
        For an unknown mode.
    """

    mode: str = "append"
    source_crs: str = "wgs84"
    allow_outside: bool = False
    allow_duplicates: bool = False
    dry_run: bool = False
    sheet: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            msg = (
                f"模式应为 {'、'.join(MODES)} / mode must be one of {', '.join(MODES)}, "
                f"not {self.mode!r}"
            )
            raise ValueError(msg)


def import_file(
    store: Store,
    layer: str,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    check: Callable[[gpd.GeoDataFrame], None] | None = None,
) -> ImportReport:
    """Import a CSV/XLSX/GeoJSON/GeoPackage file into ``stations`` or ``sites``.

    All or nothing: any bad row raises :class:`~geoservice.store.validate.ValidationError`
    (every bad row listed) and the store is left untouched.

    Parameters
    ----------
    options : ImportOptions, optional
        Mode, the file's CRS and sheet, what to accept, dry run (default: append, WGS84).
    check : callable, optional
        Called with the layer as it would be after the import, inside the store's write
        lock and before anything is written; raising refuses the import (the CLI passes the
        routing engine's memory budget check here).
    """
    options = options or ImportOptions()
    incoming, table = validate_file(
        store,
        layer,
        path,
        source_crs=options.source_crs,
        allow_outside=options.allow_outside,
        sheet=options.sheet,
    )
    report = ImportReport(
        layer, str(path), len(incoming), ignored_columns=table.ignored, dry_run=options.dry_run
    )
    report.hours_converted = _validate.hours_conversions(table)
    metric_crs = _district.current(store).metric_crs

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, ImportReport]:
        merged = _merge(layer, current, incoming, table, options, report, metric_crs)
        if check is not None:
            check(merged)
        return merged, report

    if options.dry_run:
        change(store.read(layer))
        return report
    return store.update(layer, change)


def _merge(
    layer: str,
    current: gpd.GeoDataFrame,
    incoming: gpd.GeoDataFrame,
    table: _io.Table,
    options: ImportOptions,
    report: ImportReport,
    metric_crs: str,
) -> gpd.GeoDataFrame:
    mode = options.mode
    incoming = incoming.copy()
    existing = set(current["id"]) if mode != "replace" else set()
    if mode == "append":
        errors = [
            _validate.RowError(
                table.rows[i],
                table.headers.get("id", "id"),
                f"编号已存在（更新请用 --upsert）/ id {excerpt(sid)} already exists "
                "(use --upsert to update it)",
                table.row_label,
            )
            for i, sid in enumerate(incoming["id"])
            if sid and sid in existing
        ]
        if errors:
            raise _validate.ValidationError(errors)
    incoming["id"] = assign_ids(incoming, set(current["id"]) | set(incoming["id"]))
    new_ids = list(incoming["id"])
    before = set(current["id"])
    kept = current.iloc[:0] if mode == "replace" else current.loc[~current["id"].isin(new_ids)]
    places, codes = _validate.duplicates(
        layer,
        incoming,
        table,
        adds=np.array([mode == "replace" or s not in before for s in new_ids], dtype=bool),
        others=kept,
        metric_crs=metric_crs,
    )
    refused = codes if options.allow_duplicates else codes + places
    if refused:
        raise _validate.ValidationError(refused)
    report.duplicates[:] = places
    report.added[:] = [s for s in new_ids if s not in before]
    report.updated[:] = [s for s in new_ids if s in before]
    if mode == "replace":
        report.removed[:] = sorted(before - set(new_ids))
        return incoming.reset_index(drop=True)
    merged = pd.concat([kept, incoming], ignore_index=True)
    # Keep the store's order for updated rows, new rows at the end.
    order = {sid: n for n, sid in enumerate(current["id"])}
    merged["_o"] = [order.get(s, len(order) + n) for n, s in enumerate(merged["id"])]
    merged = merged.sort_values("_o", kind="stable").drop(columns="_o")
    return gpd.GeoDataFrame(merged.reset_index(drop=True), geometry="geometry", crs=current.crs)


def assign_ids(rows: gpd.GeoDataFrame, taken: set[str]) -> list[str]:
    """Ids for rows without one: kind prefix + the next free number (WS093, WS094, …);
    the write API names its new records with it too."""
    ids = list(rows["id"])
    next_number: dict[str, int] = {}
    for i, (sid, kind) in enumerate(zip(ids, rows["kind"], strict=True)):
        if sid:
            continue
        prefix = _ID_PREFIX.get(kind, "X")
        if prefix not in next_number:
            pattern = re.compile(rf"^{prefix}(\d+)$")
            used = [int(m.group(1)) for t in taken if (m := pattern.match(t))]
            next_number[prefix] = max(used, default=0) + 1
        width = 3 if prefix in ("WS", "V", "C") else 2
        ids[i] = f"{prefix}{next_number[prefix]:0{width}d}"
        next_number[prefix] += 1
    return ids


def export_file(store: Store, layer: str, path: str | Path, *, headers: str = "en") -> int:
    """Write ``layer`` to ``path`` (format from the extension); return the row count."""
    _check_editable(layer)
    return _io.write_table(store.read(layer), path, layer, headers=headers)


# -- queries ----------------------------------------------------------------------------------


def filter_layer(
    gdf: gpd.GeoDataFrame,
    *,
    kinds: list[str] | None = None,
    towns: list[str] | None = None,
    amenities: list[str] | None = None,
) -> gpd.GeoDataFrame:
    """Keep rows whose kind is any of `kinds`, town code any of `towns`, and that offer all
    of `amenities` (vocabulary keys and town codes, as :func:`geoservice.params.names`
    returns them; None or empty means no filter)."""
    mask = pd.Series(True, index=gdf.index)
    if kinds:
        mask &= gdf["kind"].isin(kinds)
    if towns:
        mask &= gdf["town_code"].isin(towns)
    if amenities:
        have = gdf["amenities"].fillna("").astype(str).str.split(";")
        for a in amenities:
            mask &= have.map(lambda s, a=a: a in s)
    return gdf.loc[mask]


def town_names(store: Store) -> dict[str, str]:
    """Town code → Chinese name."""
    towns = store.read("towns")
    return dict(zip(towns["code"], towns["name"], strict=True))


def stations_geojson(
    store: Store,
    *,
    kinds: Sequence[str] | None = None,
    towns: Sequence[str] | None = None,
    amenities: Sequence[str] | None = None,
    at: dt.datetime | None = None,
) -> dict:
    """Stations as a GeoJSON FeatureCollection with labels and open-now status.

    Parameters
    ----------
    store
        The store.
    kinds, towns, amenities
        Filters as parsed (:class:`geoservice.service.StationsQuery`): kind keys, town
        spellings (code, full or short name, pinyin; resolved here), amenity keys (all of
        them required); None or empty: no filter.
    at
        Moment of ``open_now``/``status`` (naive = Asia/Shanghai; None = now).

    Returns
    -------
    dict

    Raises
    ------
    ParameterError
        An unknown town (the message lists the district's).
    """
    names = town_names(store)
    gdf = filter_layer(
        store.stations(),
        kinds=list(kinds or ()),
        towns=_town_codes(store, towns),
        amenities=list(amenities or ()),
    )
    at = _hours.as_local(at)
    features = [_io.record_feature(st.record(at, names)) for st in Station.from_frame(gdf)]
    return _collection(features, at)


def station_feature(store: Store, station_id: str, *, at: dt.datetime | None = None) -> dict:
    """One station as a GeoJSON Feature, its open status evaluated at `at`.

    Raises
    ------
    ParameterError
        404 when no station has that id.
    """
    gdf = store.stations()
    row = gdf.loc[gdf["id"].isin([station_id])]  # exact: == drops trailing NULs (numpy)
    if row.empty:
        shown = excerpt(station_id)
        parameter, zh, en = (
            "station_id",
            f"没有编号为 {shown} 的站点",
            f"no station with id {shown}",
        )
        raise ParameterError(parameter, zh, en, status=404)
    station = Station.from_frame(row.iloc[:1])[0]
    feature = _io.record_feature(station.record(_hours.as_local(at), town_names(store)))
    feature["properties"]["version"] = _version(row)
    return feature


def _version(row: pd.DataFrame) -> int:
    """The record's version (:mod:`geoservice.store.changes`; 1 before it had one)."""
    value = row["version"].iloc[0] if "version" in row else None
    return 1 if value is None or pd.isna(value) else int(value)


def site_feature(store: Store, site_id: str) -> dict:
    """One site as a GeoJSON Feature with its labels and version.

    Raises
    ------
    ParameterError
        404 when no site has that id.
    """
    gdf = store.sites()
    row = gdf.loc[gdf["id"].isin([site_id])]
    if row.empty:
        shown = excerpt(site_id)
        parameter, zh, en = (
            "site_id",
            f"没有编号为 {shown} 的村（社区）或保护点",
            f"no site with id {shown}",
        )
        raise ParameterError(parameter, zh, en, status=404)
    feature = sites_geojson(store, positions=row)["features"][0]
    feature["properties"]["version"] = _version(row)
    return feature


def sites_geojson(
    store: Store,
    *,
    kinds: Sequence[str] | None = None,
    towns: Sequence[str] | None = None,
    located: bool = False,
    positions: gpd.GeoDataFrame | None = None,
) -> dict:
    """Sites as a GeoJSON FeatureCollection (sites without coordinates have null geometry
    and ``coord_source: "missing"``; ``located=True`` leaves them out).

    ``positions`` is the sites layer with derived positions
    (:func:`geoservice.network.places.site_positions`); a site placed from the road network's
    place nodes has ``coord_source`` "schematic" or "osm" and, when schematic, the
    ``coord_note`` 示意位置. Without it the store's own coordinates are used.

    ``kinds`` are site kind keys, ``towns`` town spellings, as parsed
    (:class:`geoservice.service.SitesQuery`).

    Raises
    ------
    ParameterError
        An unknown town.
    """
    names = town_names(store)
    gdf = filter_layer(
        store.sites() if positions is None else positions,
        kinds=list(kinds or ()),
        towns=_town_codes(store, towns),
    )
    if located:
        gdf = gdf.loc[gdf.geometry.notna()]
    features = []
    for rec in _io.to_records(gdf, "sites"):
        rec.update(
            coord_note=SCHEMATIC_LABEL if rec["coord_source"] == "schematic" else "",
            kind_label=SITE_KINDS.get(rec["kind"], rec["kind"]),
            town=names.get(rec["town_code"], ""),
        )
        features.append(_io.record_feature(rec))
    return _collection(features, None)


def _town_codes(store: Store, towns: Sequence[str] | None) -> list[str] | None:
    """The codes of the towns named (any spelling), None for no filter."""
    if not towns:
        return None
    return Towns.from_frame(store.read("towns")).codes(list(towns))


def towns_geojson(store: Store) -> dict:
    """Towns/subdistricts with NBS codes; seat points where a real source has them."""
    towns = store.read("towns")
    features = []
    for rec in towns.to_dict("records"):
        g = rec.pop("geometry")
        geom = None if g is None else {"type": "Point", "coordinates": [g.x, g.y]}
        features.append({"type": "Feature", "id": rec["code"], "geometry": geom, "properties": rec})
    return {"type": "FeatureCollection", "features": features, "count": len(features)}


def _collection(features: list[dict], at: dt.datetime | None) -> dict:
    sources = sorted({f["properties"]["source"] for f in features})
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "count": len(features),
        "sources": sources,
        "sample": "sample" in sources,
    }
    if at is not None:
        doc["evaluated_at"] = at.isoformat()
    return doc
