"""The catalogue of stations and sites: import, export and queries over a :class:`Store`.

This is the library API the CLI and the web layer call; neither adds logic of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geoservice import crs as _crs
from geoservice import hours as _hours
from geoservice import io as _io
from geoservice import params as _params
from geoservice import validate as _validate
from geoservice.errors import ParameterError, excerpt
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS, Station
from geoservice.store import EDITABLE_LAYERS, Store

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

    def summary(self) -> str:
        """One line in Chinese and English."""
        verb = "将" if self.dry_run else "已"
        head = "[dry run] " if self.dry_run else ""
        text = (
            f"{head}{self.path}: {self.rows} 行有效；{verb}新增 {len(self.added)}，"
            f"更新 {len(self.updated)}，删除 {len(self.removed)} / {self.rows} valid rows; "
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}"
        )
        if self.ignored_columns:
            text += f"\n忽略的列 / ignored columns: {', '.join(self.ignored_columns)}"
        return text


def _check_editable(layer: str) -> None:
    if layer not in EDITABLE_LAYERS:
        msg = f"layer must be one of {', '.join(EDITABLE_LAYERS)}, not {layer!r}"
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
    boundary = store.read("boundary").geometry.union_all()
    towns = store.read("towns")
    check = _validate.validate_stations if layer == "stations" else _validate.validate_sites
    gdf = check(
        table,
        boundary=boundary,
        towns=towns,
        source_crs=source_crs,
        allow_outside=allow_outside,
    )
    return gdf, table


def import_file(
    store: Store,
    layer: str,
    path: str | Path,
    *,
    mode: str = "append",
    source_crs: str = "wgs84",
    allow_outside: bool = False,
    dry_run: bool = False,
    sheet: str | None = None,
) -> ImportReport:
    """Import a CSV/XLSX/GeoJSON/GeoPackage file into ``stations`` or ``sites``.

    All or nothing: any bad row raises :class:`~geoservice.validate.ValidationError`
    (every bad row listed) and the store is left untouched.

    Parameters
    ----------
    mode : str
        ``append`` (default; an id already in the store is an error), ``upsert`` (rows
        with a known id replace it, the others are added) or ``replace`` (the file becomes
        the whole layer).
    source_crs : str
        ``wgs84``, ``gcj02`` or ``bd09``: the CRS of the file's coordinates.
    dry_run : bool
        Validate and report, write nothing.
    """
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}, not {mode!r}"
        raise ValueError(msg)
    incoming, table = validate_file(
        store, layer, path, source_crs=source_crs, allow_outside=allow_outside, sheet=sheet
    )
    report = ImportReport(
        layer, str(path), len(incoming), ignored_columns=table.ignored, dry_run=dry_run
    )

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, ImportReport]:
        merged = _merge(current, incoming, table, mode, report)
        return merged, report

    if dry_run:
        _merge(store.read(layer), incoming, table, mode, report)
        return report
    return store.update(layer, change)


def _merge(
    current: gpd.GeoDataFrame,
    incoming: gpd.GeoDataFrame,
    table: _io.Table,
    mode: str,
    report: ImportReport,
) -> gpd.GeoDataFrame:
    incoming = incoming.copy()
    existing = set(current["id"]) if mode != "replace" else set()
    if mode == "append":
        errors = [
            _validate.RowError(
                table.rows[i],
                table.headers.get("id", "id"),
                f"编号已存在 / id {sid!r} already exists (use --upsert to update it)",
                table.row_label,
            )
            for i, sid in enumerate(incoming["id"])
            if sid and sid in existing
        ]
        if errors:
            raise _validate.ValidationError(errors)
    incoming["id"] = _assign_ids(incoming, set(current["id"]) | set(incoming["id"]))
    new_ids = list(incoming["id"])
    before = set(current["id"])
    report.added[:] = [s for s in new_ids if s not in before]
    report.updated[:] = [s for s in new_ids if s in before]
    if mode == "replace":
        report.removed[:] = sorted(before - set(new_ids))
        return incoming.reset_index(drop=True)
    kept = current.loc[~current["id"].isin(set(new_ids))]
    merged = pd.concat([kept, incoming], ignore_index=True)
    # Keep the store's order for updated rows, new rows at the end.
    order = {sid: n for n, sid in enumerate(current["id"])}
    merged["_o"] = [order.get(s, len(order) + n) for n, s in enumerate(merged["id"])]
    merged = merged.sort_values("_o", kind="stable").drop(columns="_o")
    return gpd.GeoDataFrame(merged.reset_index(drop=True), geometry="geometry", crs=current.crs)


def _assign_ids(rows: gpd.GeoDataFrame, taken: set[str]) -> list[str]:
    """Ids for rows without one: kind prefix + the next free number (WS093, WS094, …)."""
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
    kind: str | list[str] | None = None,
    town: str | list[str] | None = None,
    amenity: str | list[str] | None = None,
    at: dt.datetime | None = None,
) -> dict:
    """Stations as a GeoJSON FeatureCollection with labels and open-now status.

    Parameters
    ----------
    store
        The store.
    kind, town, amenity
        Filters, each a list or a comma-separated string (see
        :func:`geoservice.params.names`): kinds (keys or Chinese labels), towns (codes or
        Chinese names), amenities (all of them required).
    at
        Moment of ``open_now``/``status`` (naive = Asia/Shanghai; None = now).

    Returns
    -------
    dict

    Raises
    ------
    ParameterError
        An unknown kind, town or amenity (the message lists the allowed values).
    """
    names = town_names(store)
    gdf = filter_layer(
        store.stations(),
        kinds=_params.names(kind, "kind", STATION_KINDS),
        towns=_params.names(town, "town", names),
        amenities=_params.names(amenity, "amenity", AMENITIES),
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
    row = gdf.loc[gdf["id"] == station_id]
    if row.empty:
        shown = excerpt(station_id)
        parameter, zh, en = (
            "station_id",
            f"没有编号为 {shown} 的站点",
            f"no station with id {shown}",
        )
        raise ParameterError(parameter, zh, en, status=404)
    station = Station.from_frame(row.iloc[:1])[0]
    return _io.record_feature(station.record(_hours.as_local(at), town_names(store)))


def sites_geojson(
    store: Store,
    *,
    kind: str | list[str] | None = None,
    town: str | list[str] | None = None,
    located: bool = False,
) -> dict:
    """Sites as a GeoJSON FeatureCollection (sites without coordinates have null geometry
    and ``coord_source: "missing"``; ``located=True`` leaves them out).

    Raises
    ------
    ParameterError
        An unknown kind or town.
    """
    names = town_names(store)
    gdf = filter_layer(
        store.sites(),
        kinds=_params.names(kind, "kind", SITE_KINDS),
        towns=_params.names(town, "town", names),
    )
    if located:
        gdf = gdf.loc[gdf.geometry.notna()]
    features = []
    for rec in _io.to_records(gdf, "sites"):
        rec.update(
            kind_label=SITE_KINDS.get(rec["kind"], rec["kind"]),
            town=names.get(rec["town_code"], ""),
        )
        features.append(_io.record_feature(rec))
    return _collection(features, None)


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
