"""The catalogue of stations and sites: import, export and queries over a :class:`Store`.

This is the library API the CLI and the web layer call; neither adds logic of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoservice import crs as _crs
from geoservice import district as _district
from geoservice import hours as _hours
from geoservice.errors import HoursError, MovesNeedConfirmationError, ParameterError, excerpt
from geoservice.model import AMENITIES, CRS_STORAGE, SITE_KINDS, STATION_KINDS, Station
from geoservice.network.places import SCHEMATIC_LABEL
from geoservice.store import EDITABLE_LAYERS, Store
from geoservice.store import changes as _changes
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


#: An upsert that moves a record (station or located site) farther than this, in metres,
#: needs ``ImportOptions.confirm_moves``: a file in another CRS than assumed moves every
#: point by 300–600 m in Beijing, which no one notices in a summary line.
MOVE_CONFIRM_M = 50.0


@dataclass(frozen=True, slots=True)
class Move:
    """A record an import moves farther than :data:`MOVE_CONFIRM_M`."""

    id: str
    name: str
    metres: float

    def __str__(self) -> str:
        return f"{self.id}「{self.name}」 {self.metres:,.0f} 米 / m"

    def to_dict(self) -> dict:
        """JSON-ready form (metres to 0.1 m)."""
        return {"id": self.id, "name": self.name, "metres": round(self.metres, 1)}


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do).

    ``updated`` are the rows that change a record, ``unchanged`` those whose stored fields
    and position stay as they are (the record is kept as stored); ``moved`` the updated
    records that move farther than ``move_limit_m``, farthest first.
    """

    layer: str
    path: str
    rows: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: Whether the import was written (False for a dry run and a refused one).
    written: bool = False
    #: The CRS the file's coordinates were read in, and whether its headers named it.
    source_crs: str = "wgs84"
    crs_from_headers: bool = False
    move_limit_m: float = MOVE_CONFIRM_M
    #: Whether the moves need confirming (an upsert without ``confirm_moves``): the import
    #: is refused, a dry run only says so.
    confirm_needed: bool = False
    hours_converted: list[_validate.HoursConversion] = field(default_factory=list)
    #: Hours without a holiday rule: they count as open on public holidays.
    hours_warnings: list[_validate.HolidayWarning] = field(default_factory=list)
    #: Rows imported although they look like duplicates (``allow_duplicates=True``).
    duplicates: list[_validate.RowError] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines, Chinese first."""
        verb = "已" if self.written else "将"
        head = "[dry run] " if self.dry_run else ""
        text = (
            f"{head}{self.path}: {self.rows} 行有效；{verb}新增 {len(self.added)}，"
            f"更新 {len(self.updated)}，未变 {len(self.unchanged)}，删除 {len(self.removed)} / "
            f"{self.rows} valid rows; added {len(self.added)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, removed {len(self.removed)}"
        )
        label = _io.CRS_LABELS[self.source_crs]
        text += (
            f"\n坐标系 / coordinates: {label}（表头注明 / named in the headers）"
            if self.crs_from_headers
            else f"\n坐标系 / coordinates: {label}"
        )
        if self.added:
            text += f"\n新增编号 / new ids: {_listed(self.added, _SHOWN_IDS)}"
        if self.moved:
            n, metres = len(self.moved), f"{self.move_limit_m:g}"
            en = "moved" if self.written else "would move"
            text += f"\n{verb}移动超过 {metres} 米 {n} 处 / {n} {en} more than {metres} m:"
            text += _lines(self.moved, _SHOWN_MOVES)
        if self.ignored_columns:
            shown = ", ".join(excerpt(c) for c in self.ignored_columns[:_SHOWN_COLUMNS])
            more = len(self.ignored_columns) - _SHOWN_COLUMNS
            if more > 0:
                shown += f" … (+{more})"
            text += f"\n忽略的列 / ignored columns: {shown}"
        if self.hours_converted:
            n = len(self.hours_converted)
            text += f"\n开放时间已转换为 OSM 格式 {n} 处 / {n} opening_hours cell(s) converted:"
            text += _lines(self.hours_converted, _SHOWN_HOURS)
        if self.hours_warnings:
            n = len(self.hours_warnings)
            text += (
                f"\n注意：{n} 处开放时间未写节假日安排，法定节假日（如国庆节）将按星期规则"
                f"算作开放；节假日休息请加「；节假日休息」/ warning: {n} opening_hours cell(s) "
                "say nothing about public holidays, so they count as open on them by their "
                "weekday rules; add '; PH off' (节假日休息) where a station closes:"
            )
            text += _lines(self.hours_warnings, _SHOWN_HOURS)
        if self.duplicates:
            n = len(self.duplicates)
            text += f"\n按要求保留的疑似重复 {n} 行 / {n} likely duplicate row(s) kept as asked:"
            text += _lines(self.duplicates, _SHOWN_DUPLICATES)
        return text

    def to_dict(self) -> dict:
        """JSON-ready form with every list (for the back office)."""
        return {
            "layer": self.layer,
            "path": self.path,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "written": self.written,
            "source_crs": self.source_crs,
            "crs_from_headers": self.crs_from_headers,
            "added": list(self.added),
            "updated": list(self.updated),
            "unchanged": list(self.unchanged),
            "removed": list(self.removed),
            "move_limit_m": self.move_limit_m,
            "confirm_needed": self.confirm_needed,
            "moved": [m.to_dict() for m in self.moved],
            "hours_warnings": [w.to_dict() for w in self.hours_warnings],
            "hours_converted": [c.to_dict() for c in self.hours_converted],
            "duplicates": [e.to_dict() for e in self.duplicates],
            "ignored_columns": list(self.ignored_columns),
        }


_SHOWN_COLUMNS = 20
_SHOWN_HOURS = 50
_SHOWN_DUPLICATES = 20
_SHOWN_IDS = 50
_SHOWN_MOVES = _io.MAX_REPORTED_ERRORS


def _listed(items: Sequence[str], limit: int) -> str:
    text = ", ".join(items[:limit])
    more = len(items) - limit
    return text + (f" … 另有 {more} 个 / and {more} more" if more > 0 else "")


def _lines(items: Sequence[object], limit: int) -> str:
    text = "".join(f"\n  {item}" for item in items[:limit])
    more = len(items) - limit
    return text + (f"\n  … 另有 {more} 处 / and {more} more" if more > 0 else "")


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
    source_crs: str | None = None,
    allow_outside: bool = False,
    sheet: str | None = None,
) -> tuple[gpd.GeoDataFrame, _io.Table]:
    """Read and validate a file for ``layer``; raise ValidationError listing every bad row.

    The coordinates are read in the CRS the headers name (``经度(GCJ02)``), else in
    ``source_crs``, else in WGS84 (:func:`source_crs_of`).
    """
    _check_editable(layer)
    table = _io.read_table(path, sheet)
    towns = store.read("towns")
    check = _validate.validate_stations if layer == "stations" else _validate.validate_sites
    gdf = check(
        table,
        district=_district.current(store),
        towns=towns,
        source_crs=source_crs_of(table, source_crs),
        allow_outside=allow_outside,
    )
    return gdf, table


def source_crs_of(table: _io.Table, chosen: str | None) -> str:
    """The CRS to read ``table``'s coordinates in: the one its headers name, else
    ``chosen``, else WGS84.

    Raises
    ------
    ParameterError
        ``chosen`` differs from the CRS the headers name (parameter ``crs``): one of them
        is wrong, and importing either way could move every point by hundreds of metres.
    """
    chosen = None if chosen is None else _crs.normalize_crs(chosen)
    named = table.crs
    if named is not None and chosen is not None and chosen != named:
        column = excerpt(table.headers.get("lon") or table.headers.get("lat") or "")
        want, said = _io.CRS_LABELS[chosen], _io.CRS_LABELS[named]
        parameter, zh, en = (
            "crs",
            f"文件表头注明坐标为 {said}（列「{column}」），与所选坐标系 {want}（--crs）不一致，"
            "未导入任何数据；表头已注明坐标系时不必再选",
            f"the file's headers say its coordinates are {said} (column {column}), but {want} "
            "was chosen (--crs); nothing was imported. Leave the CRS out when the headers "
            "name it",
        )
        raise ParameterError(parameter, zh, en)
    return named or chosen or "wgs84"


@dataclass(frozen=True)
class ImportOptions:
    """How a file is imported: the options of ``flask stations import`` (and ``sites``).

    Attributes
    ----------
    mode : str
        ``append`` (default; an id already in the store is an error), ``upsert`` (rows
        with a known id replace it, the others are added) or ``replace`` (the file becomes
        the whole layer).
    source_crs : str or None
        ``wgs84``, ``gcj02`` or ``bd09``: the CRS of the file's coordinates when its
        headers do not name one (``经度(GCJ02)``); one that contradicts the headers is
        refused. None: the headers' CRS, else WGS84.
    allow_outside : bool
        Accept points outside the district.
    allow_duplicates : bool
        Import rows that look like a station already there (same name within 50 m, or the
        same coordinates; :func:`geoservice.store.validate.duplicates`); they are listed in the
        report. Without it such rows refuse the file, so importing one file twice adds
        nothing. A taken site code is refused either way.
    confirm_moves : bool
        Apply an upsert that moves records farther than :data:`MOVE_CONFIRM_M` (listed in
        the report's ``moved``). Without it such an upsert raises
        :class:`~geoservice.errors.MovesNeedConfirmationError` and writes nothing; a dry
        run lists the moves either way, and ``replace`` lists them without asking.
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
    source_crs: str | None = None
    allow_outside: bool = False
    allow_duplicates: bool = False
    confirm_moves: bool = False
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
) -> ImportReport:
    """Import a CSV/XLSX/GeoJSON/GeoPackage file into ``stations`` or ``sites``.

    All or nothing: any bad row raises :class:`~geoservice.store.validate.ValidationError`
    (every bad row listed) and the store is left untouched.

    Parameters
    ----------
    options : ImportOptions, optional
        Mode, the file's CRS and sheet, what to accept, dry run (default: append, the
        headers' CRS or WGS84).

    Raises
    ------
    ValidationError
        Bad rows (every one listed).
    FileFormatError
        A file that cannot be read, or whose lon and lat headers name different CRSs.
    ParameterError
        ``options.source_crs`` contradicts the CRS the headers name.
    MovesNeedConfirmationError
        An upsert would move records farther than :data:`MOVE_CONFIRM_M` without
        ``options.confirm_moves``; its ``report`` lists them.
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
        layer,
        str(path),
        len(incoming),
        ignored_columns=table.ignored,
        dry_run=options.dry_run,
        source_crs=source_crs_of(table, options.source_crs),
        crs_from_headers=table.crs is not None,
    )
    report.hours_converted = _validate.hours_conversions(table)
    if "opening_hours" in incoming:
        report.hours_warnings = _validate.holiday_warnings(
            table, incoming["opening_hours"].tolist()
        )
    metric_crs = _district.current(store).metric_crs
    retired = store.retired_ids(layer)

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, ImportReport]:
        merged = _merge(layer, current, incoming, table, options, report, metric_crs, retired)
        unconfirmed = options.mode == "upsert" and not options.confirm_moves
        report.confirm_needed = bool(report.moved) and unconfirmed
        if report.confirm_needed and not options.dry_run:
            raise MovesNeedConfirmationError(report)
        return merged, report

    if options.dry_run:
        change(store.read(layer))
        return report
    store.update(layer, change)
    report.written = True
    return report


def _merge(
    layer: str,
    current: gpd.GeoDataFrame,
    incoming: gpd.GeoDataFrame,
    table: _io.Table,
    options: ImportOptions,
    report: ImportReport,
    metric_crs: str,
    retired: set[str],
) -> gpd.GeoDataFrame:
    mode = options.mode
    incoming = incoming.reset_index(drop=True)
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
    # A deleted record's id is never given again: it can still be restored under it.
    incoming["id"] = assign_ids(incoming, set(current["id"]) | set(incoming["id"]) | retired)
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
    # The stored record of each row that updates one, and whether it changes anything.
    position = {sid: n for n, sid in enumerate(current["id"])}
    at = np.array([position.get(s, -1) for s in new_ids], dtype=int)
    matched = np.flatnonzero(at >= 0)
    old = current.iloc[at[matched]].reset_index(drop=True)
    same = np.zeros(len(incoming), dtype=bool)
    same[matched] = _unchanged(old, incoming.iloc[matched].reset_index(drop=True))
    report.added[:] = [s for s in new_ids if s not in before]
    report.updated[:] = [new_ids[i] for i in matched if not same[i]]
    report.unchanged[:] = [new_ids[i] for i in matched if same[i]]
    report.moved[:] = _moves(old, incoming.iloc[matched].reset_index(drop=True), metric_crs)
    # An unchanged row keeps its record as stored, to the last bit of its position.
    kept_as_stored = old.loc[same[matched]].set_axis(matched[same[matched]])
    incoming = gpd.GeoDataFrame(
        pd.concat([incoming.loc[~same], kept_as_stored]).sort_index(),
        geometry="geometry",
        crs=current.crs,
    )
    if mode == "replace":
        report.removed[:] = sorted(before - set(new_ids))
        return incoming.reset_index(drop=True)
    merged = pd.concat([kept, incoming], ignore_index=True)
    # Keep the store's order for updated rows, new rows at the end.
    order = {sid: n for n, sid in enumerate(current["id"])}
    merged["_o"] = [order.get(s, len(order) + n) for n, s in enumerate(merged["id"])]
    merged = merged.sort_values("_o", kind="stable").drop(columns="_o")
    return gpd.GeoDataFrame(merged.reset_index(drop=True), geometry="geometry", crs=current.crs)


def _unchanged(stored: gpd.GeoDataFrame, incoming: gpd.GeoDataFrame) -> np.ndarray:
    """Per row pair: the incoming row has its stored record's fields and position, so
    importing it changes nothing."""
    same = np.ones(len(incoming), dtype=bool)
    for column in incoming.columns:
        if column in ("geometry", "lon", "lat", "version"):
            continue  # the version follows from the changes (geoservice.store.changes)
        a, b = stored[column], incoming[column]
        # Missing as None, which equals None alone (pd.NA equals nothing).
        x = a.astype(object).where(a.notna(), None).to_numpy(object)
        y = b.astype(object).where(b.notna(), None).to_numpy(object)
        same &= np.asarray(x == y, dtype=bool)
    columns = ["lon", "lat"]
    same &= _same_position(stored[columns].to_numpy(float), incoming[columns].to_numpy(float))
    same &= _same_position(_xy(stored.geometry), _xy(incoming.geometry))
    return same


def _same_position(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row of two (n, 2) lon/lat arrays: both missing, or within one unit of the 7th
    decimal the import keeps (about 1 cm; a position read back from GCJ-02 or BD-09 may
    round the other way than the stored one)."""
    close = np.abs(np.round(a, 7) - np.round(b, 7)) < 1.5e-7
    return np.all(close | (np.isnan(a) & np.isnan(b)), axis=1)


def _xy(geometry: gpd.GeoSeries) -> np.ndarray:
    """(n, 2) point coordinates, NaN for a missing or empty geometry."""
    out = np.full((len(geometry), 2), np.nan)
    values = geometry.to_numpy()
    present = ~(geometry.isna().to_numpy() | geometry.is_empty.to_numpy())
    if present.any():
        out[present] = shapely.get_coordinates(values[present])[:, :2]
    return out


def _moves(stored: gpd.GeoDataFrame, incoming: gpd.GeoDataFrame, metric_crs: str) -> list[Move]:
    """The records (``stored``, updated row by row by ``incoming``) the import moves farther
    than :data:`MOVE_CONFIRM_M`, measured in the district's metric CRS, farthest first; a
    record given its first position is not moved."""
    placed = [~np.isnan(_xy(frame.geometry)).any(axis=1) for frame in (stored, incoming)]
    both = placed[0] & placed[1]
    if not both.any():
        return []
    old = gpd.GeoSeries(stored.geometry[both].to_numpy(), crs=CRS_STORAGE).to_crs(metric_crs)
    new = gpd.GeoSeries(incoming.geometry[both].to_numpy(), crs=CRS_STORAGE).to_crs(metric_crs)
    metres = old.distance(new).to_numpy(float)
    ids = incoming["id"].to_numpy(object)[both]
    names = incoming["name"].to_numpy(object)[both]
    far = np.flatnonzero(metres > MOVE_CONFIRM_M)
    moves = [Move(str(ids[i]), str(names[i]), float(metres[i])) for i in far]
    return sorted(moves, key=lambda m: -m.metres)


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


def export_file(
    store: Store, layer: str, path: str | Path, *, headers: str = "en", crs: str = "wgs84"
) -> int:
    """Write ``layer`` to ``path`` (format from the extension); return the row count.

    Parameters
    ----------
    headers : str
        ``en`` or ``zh``: the headers of a CSV/XLSX file. ``zh`` also writes its values as
        staff read and type them (:func:`sheet_rows_zh`).
    crs : str
        ``wgs84``, ``gcj02`` or ``bd09``: the CRS of a CSV/XLSX file's coordinates, named
        in its lon/lat headers (``经度(GCJ02)``), so that an import reads them back in it.
        GeoJSON and GeoPackage files are always WGS84.
    """
    _check_editable(layer)
    gdf = store.read(layer)
    rows = None
    if headers == "zh" and _io.detect_format(path) in ("csv", "xlsx"):
        rows = sheet_rows_zh(_io.to_records(gdf, layer), layer, store.read("towns"))
    return _io.write_table(gdf, path, layer, headers=headers, crs=crs, sheet_rows=rows)


def sheet_rows_zh(records: list[dict], layer: str, towns: pd.DataFrame) -> list[dict]:
    """Records (:func:`geoservice.store.tables.to_records`) as staff read and type them,
    each value one the import reads back to the same stored value: kind labels
    (暖心驿站), amenity labels joined with 、 (饮用水、热水), opening hours in Chinese
    (周一至周五 08:00–17:30, :func:`geoservice.hours.format_zh`; OSM syntax where the
    Chinese would not read back the same) and the town's name in a ``town`` column instead
    of its code (the code where the name would not resolve back to it)."""
    kinds = STATION_KINDS if layer == "stations" else SITE_KINDS
    resolver = Towns.from_frame(towns)
    hours: dict[str, str] = {}
    out = []
    for rec in records:
        row = {}
        for key, value in rec.items():
            if key == "kind":
                row[key] = kinds.get(value, value)
            elif key == "amenities":
                row[key] = "、".join(AMENITIES.get(a, a) for a in value)
            elif key == "opening_hours" and value:
                if value not in hours:
                    hours[value] = _hours_zh(value)
                row[key] = hours[value]
            elif key == "town_code":
                name = resolver.name(value) if value else ""
                row["town"] = name if name and resolver.resolve(name) == value else value
            else:
                row[key] = value
        out.append(row)
    return out


def _hours_zh(osm: str) -> str:
    """``osm`` in Chinese when the import reads that back to the OSM value it reads
    ``osm`` as, else ``osm``."""
    try:
        zh = _hours.format_zh(osm)
        same = _hours.convert(zh)[0] == _hours.validate(osm)
    except HoursError:
        return osm
    return zh if same and len(zh) <= _io.MAX_TEXT_CHARS else osm


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
    row = record_row(store.stations(), "stations", station_id, "station_id")
    station = Station.from_frame(row.iloc[:1])[0]
    feature = _io.record_feature(station.record(_hours.as_local(at), town_names(store)))
    feature["properties"]["version"] = _version(row)
    return feature


#: What a record of each editable layer is called, for the 404 of an unknown id.
_RECORD_NOUNS = {"stations": ("站点", "station"), "sites": ("村（社区）或保护点", "site")}


def missing_record(layer: str, record_id: str, parameter: str) -> ParameterError:
    """The 404 of an id that no record of ``layer`` has (naming ``parameter``)."""
    shown = excerpt(record_id)
    zh, en = _RECORD_NOUNS[layer]
    return ParameterError(
        parameter, f"没有编号为 {shown} 的{zh}", f"no {en} with id {shown}", status=404
    )


def record_row(
    gdf: gpd.GeoDataFrame, layer: str, record_id: str, parameter: str = "id"
) -> gpd.GeoDataFrame:
    """The one row of ``record_id`` in ``gdf`` (a layer of ``layer``), compared exactly.

    Raises
    ------
    ParameterError
        404 naming ``parameter`` when no record has that id (:func:`missing_record`).
    """
    row = gdf.loc[gdf["id"].isin([record_id])]  # exact: == drops trailing NULs (numpy)
    if row.empty:
        raise missing_record(layer, record_id, parameter)
    return row.iloc[:1]


def _version(row: pd.DataFrame) -> int:
    return _changes.version_of(row[_changes.VERSION].iloc[0] if _changes.VERSION in row else None)


def site_feature(store: Store, site_id: str) -> dict:
    """One site as a GeoJSON Feature with its labels and version.

    Raises
    ------
    ParameterError
        404 when no site has that id.
    """
    row = record_row(store.sites(), "sites", site_id, "site_id")
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
