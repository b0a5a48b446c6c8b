"""Edits of one record at a time: the write API's and the back office's one path.

A record is sent as a mapping with the import's English column names (``name``, ``kind``,
``lon``, ``lat``, ``opening_hours``, ``amenities``, …) and checked by the import's own
validation (:mod:`geoservice.store.validate`), so the rules and the messages are the
import's. Every edit goes through :meth:`geoservice.store.Store.update`: the record gets its
next version and the change goes to the audit log, attributed to whoever is acting
(:func:`geoservice.admin.audit.acting`). Deletes are soft: a deleted record leaves the
layer (so no answer shows it) and stays whole in the audit log, from which :func:`restore`
brings it back under the same id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoservice import crs as _crs
from geoservice import district as _district
from geoservice import hours as _hours
from geoservice.admin.audit import acting, current_actor
from geoservice.errors import (
    AccessError,
    RecordError,
    RevertError,
    ValidationError,
    VersionConflictError,
    excerpt,
)
from geoservice.model import SITE_COLUMNS, STATION_COLUMNS
from geoservice.store import Store, catalog, normalize
from geoservice.store import validate as _validate
from geoservice.store.changes import VERSION, version_of
from geoservice.store.tables import Table

if TYPE_CHECKING:
    from geoservice.admin.audit import Entry, Journal

#: The fields of a record per layer, as the import names its columns.
FIELDS: dict[str, tuple[str, ...]] = {"stations": STATION_COLUMNS, "sites": SITE_COLUMNS}
#: Who may change a record of a town (``User.may_edit``); None: anyone (the CLI).
MayEdit = Callable[[str], bool] | None
# What errors name.
_ID, _TOWN_CODE, _IF_MATCH, _CHANGE = "id", "town_code", "If-Match", "change"


def _check_layer(layer: str) -> None:
    if layer not in FIELDS:
        msg = f"not an editable layer: {layer!r}"
        raise ValueError(msg)


def _cell(key: str, value: object) -> object:
    """A JSON value as an import cell: lists (amenities) joined, scalars as they are."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ";".join(value)
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    zh = f"字段「{key}」的值应为文字或数字"
    en = f"field {key!r} must be text or a number"
    raise RecordError([{"column": key, "message": f"{zh} / {en}"}])


def _fields(layer: str, body: Mapping[str, Any], *, allow_id: bool) -> tuple[dict, str]:
    """The record's fields and CRS from a request body; unknown fields are refused."""
    known = {*FIELDS[layer], "town", "crs"}  # town: a town's name, as the import takes it
    errors = [
        {"column": str(k)[:40], "message": f"未知字段 / unknown field {excerpt(k)}"}
        for k in body
        if k not in known or (k == "id" and not allow_id)
    ]
    if errors:
        raise RecordError(errors)
    crs = body.get("crs") or "wgs84"
    try:
        crs = _crs.normalize_crs(str(crs))
    except ValueError as exc:
        raise RecordError([{"column": "crs", "message": str(exc)}]) from exc
    return {k: _cell(k, v) for k, v in body.items() if k != "crs"}, crs


def _validated(
    store: Store, layer: str, fields: dict, source_crs: str, *, allow_outside: bool = False
) -> gpd.GeoDataFrame:
    """One record checked by the import's rules; RecordError lists every problem."""
    frame = pd.DataFrame([fields], dtype=object, index=[0])  # one row, even with no field
    table = Table(frame, {k: k for k in fields}, [1])
    check = _validate.validate_stations if layer == "stations" else _validate.validate_sites
    try:
        return check(
            table,
            district=_district.current(store),
            towns=store.read("towns"),
            source_crs=source_crs,
            allow_outside=allow_outside,
            default_source="manual",
        )
    except ValidationError as exc:
        raise RecordError([{"column": e.column, "message": e.message} for e in exc.errors]) from exc


def _stored(row: pd.Series, layer: str) -> dict[str, object]:
    """A stored row as import cells (WGS84 coordinates, hours in OSM syntax)."""
    out: dict[str, object] = {}
    for key in FIELDS[layer]:
        value = row.get(key)
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            continue
        out[key] = value.item() if hasattr(value, "item") else value
    return out


def _allowed(may_edit: MayEdit, town_code: str) -> None:
    if may_edit is not None and not may_edit(town_code):
        shown = excerpt(town_code or "（无）")
        zh = f"无权修改乡镇 {shown} 的数据"
        en = f"you may not change records of town {shown}"
        raise AccessError(_TOWN_CODE, zh, en, status=403)


def _expect(row: pd.Series, expect: int | None) -> None:
    have = version_of(row.get(VERSION))
    if expect is not None and expect != have:
        zh = f"记录已被修改（当前版本 {have}，请求基于版本 {expect}），未做任何改动"
        en = f"the record is at version {have}, not {expect}; nothing was changed"
        raise VersionConflictError(_IF_MATCH, zh, en, status=412)


def _row(gdf: gpd.GeoDataFrame, layer: str, record_id: str) -> pd.Series:
    return catalog.record_row(gdf, layer, record_id, _ID).iloc[0]


def _duplicates(
    store: Store, layer: str, incoming: gpd.GeoDataFrame, others: gpd.GeoDataFrame, adds: bool
) -> None:
    table = Table(pd.DataFrame(index=[0]), {}, [1])
    places, codes = _validate.duplicates(
        layer,
        incoming,
        table,
        adds=np.array([adds]),
        others=others,
        metric_crs=_district.current(store).metric_crs,
    )
    found = codes + places
    if found:
        raise RecordError([{"column": e.column, "message": e.message} for e in found])


def create(
    store: Store,
    layer: str,
    body: Mapping[str, Any],
    *,
    may_edit: MayEdit = None,
    allow_duplicate: bool = False,
) -> str:
    """Add a record; return its id (given in the body, or the next free one).

    Raises
    ------
    RecordError
        422 with every problem (the import's rules, a duplicate, a taken id).
    AccessError
        403 for a town the user may not edit.
    """
    _check_layer(layer)
    fields, source_crs = _fields(layer, body, allow_id=True)
    incoming = _validated(store, layer, fields, source_crs)
    _allowed(may_edit, str(incoming["town_code"].iloc[0]))

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, str]:
        rid = str(incoming["id"].iloc[0])
        if rid and rid in set(current["id"]):
            message = f"编号已存在 / id {excerpt(rid)} already exists"
            raise RecordError([{"column": "id", "message": message}])
        new = incoming.copy()
        new["id"] = catalog.assign_ids(new, set(current["id"]) | store.retired_ids(layer))
        if not allow_duplicate:
            _duplicates(store, layer, new, current, adds=True)
        merged = pd.concat([current, normalize(new, layer)], ignore_index=True)
        return gpd.GeoDataFrame(merged, geometry="geometry", crs=current.crs), new["id"].iloc[0]

    return store.update(layer, change)


def patch(
    store: Store,
    layer: str,
    record_id: str,
    body: Mapping[str, Any],
    *,
    may_edit: MayEdit = None,
    expect: int | None = None,
) -> None:
    """Change the fields ``body`` names (coordinates in its ``crs``); the others stay.

    Raises
    ------
    ParameterError
        404 for an unknown id.
    RecordError, AccessError
        As for :func:`create` (the town before and after the change must be the user's).
    VersionConflictError
        412 when ``expect`` is not the record's version; nothing is changed.
    """
    _check_layer(layer)
    fields, source_crs = _fields(layer, body, allow_id=True)
    if "id" in fields and fields["id"] != record_id:
        message = "编号不能修改 / the id cannot be changed"
        raise RecordError([{"column": "id", "message": message}])
    if source_crs != "wgs84" and len({"lon", "lat"} & set(fields)) == 1:
        message = "换算坐标需要同时给出经度和纬度 / send lon and lat together to convert them"
        raise RecordError([{"column": "lon", "message": message}])

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, None]:
        row = _row(current, layer, record_id)
        _expect(row, expect)
        _allowed(may_edit, str(row["town_code"]))
        merged = _stored(row, layer)
        if source_crs != "wgs84" and "lon" in fields:
            merged.pop("lon", None)
            merged.pop("lat", None)
        if "town" in fields and "town_code" not in fields:
            merged.pop("town_code", None)  # the town named now replaces the stored code
        merged.update(fields)
        merged["id"] = record_id
        moved = "lon" in fields or "lat" in fields
        # A record imported outside the district (--allow-outside) may still be renamed.
        new = _validated(
            store, layer, _converted(merged, source_crs, fields), "wgs84", allow_outside=not moved
        )
        _allowed(may_edit, str(new["town_code"].iloc[0]))
        others = current.loc[current["id"] != record_id]
        _duplicates(store, layer, new, others, adds=False)
        return _replaced(current, record_id, normalize(new, layer)), None

    store.update(layer, change)


def _converted(merged: dict, crs: str, fields: dict) -> dict:
    """The merged record with the body's coordinates converted to WGS84 (the stored ones
    are WGS84 already), so that one validation checks them all."""
    if crs == "wgs84" or "lon" not in fields:
        return merged
    try:
        lon, lat = float(fields["lon"]), float(fields["lat"])
    except (TypeError, ValueError):
        return merged  # the validation names the bad cell
    x, y = _crs.to_wgs84(np.array([lon]), np.array([lat]), crs)
    return {**merged, "lon": float(x[0]), "lat": float(y[0])}


def delete(
    store: Store,
    layer: str,
    record_id: str,
    *,
    may_edit: MayEdit = None,
    expect: int | None = None,
) -> None:
    """Delete a record (soft: it can be restored from the audit log with :func:`restore`)."""
    _check_layer(layer)

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, None]:
        row = _row(current, layer, record_id)
        _expect(row, expect)
        _allowed(may_edit, str(row["town_code"]))
        return current.loc[current["id"] != record_id].reset_index(drop=True), None

    store.update(layer, change)


def _replaced(current: gpd.GeoDataFrame, record_id: str, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``current`` with the record ``record_id`` replaced by the one row of ``new``, in its
    place; its version is the store's to set (:func:`geoservice.store.changes.stamp_versions`)."""
    out = current.copy()
    (at,) = out.index[out["id"] == record_id]
    for column in out.columns:
        if column != VERSION and column in new:
            out.at[at, column] = new[column].iloc[0]
    return out


def _frame_of(record: Mapping[str, Any], layer: str) -> gpd.GeoDataFrame:
    geometry = record.get("geometry")
    geom = shapely.from_wkt(geometry) if geometry else None
    values = {k: [record.get(k)] for k in (*FIELDS[layer], VERSION)}
    return normalize(gpd.GeoDataFrame(values, geometry=[geom], crs="EPSG:4326"), layer)


def restore(
    store: Store, journal: Journal, layer: str, record_id: str, *, may_edit: MayEdit = None
) -> None:
    """Bring back a deleted record as it was, under its id (its next version).

    Raises
    ------
    ParameterError
        404 when the record is not deleted (never existed, or is there now).
    RevertError
        409 when its id was given to another record since.
    """
    _check_layer(layer)
    entry = journal.last_delete(layer, record_id)
    if entry is None or entry.before is None:
        raise catalog.missing_record(layer, record_id, _ID)
    actor = current_actor()
    with acting(actor.user, actor.via, restoring=True):
        _put_back(store, layer, entry.before, may_edit)


def _put_back(store: Store, layer: str, record: Mapping[str, Any], may_edit: MayEdit) -> None:
    _allowed(may_edit, str(record.get("town_code") or ""))
    rid = str(record["id"])

    def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, None]:
        if rid in set(current["id"]):
            zh = f"编号 {excerpt(rid)} 已被另一条记录使用，无法恢复"
            en = f"id {excerpt(rid)} is used by another record now; cannot restore it"
            raise RevertError(_ID, zh, en, status=409)
        merged = pd.concat([current, _frame_of(record, layer)], ignore_index=True)
        return gpd.GeoDataFrame(merged, geometry="geometry", crs=current.crs), None

    store.update(layer, change)


def revert(store: Store, journal: Journal, change_id: int, *, may_edit: MayEdit = None) -> None:
    """Undo one change of the audit log: put the record back as it was before it.

    Raises
    ------
    RevertError
        404 for an unknown change; 409 when a later change touched the same record (it is
        named: revert that one first).
    AccessError
        403 for a town the user may not edit.
    """
    entry = journal.get(change_id)
    later = journal.later(entry)
    if later is not None:
        at = _hours.beijing(later.at)
        zh = (
            f"修改 #{entry.id} 之后，#{later.id}（{later.user}，北京时间 {at}）又修改了该记录，"
            f"请先撤销 #{later.id}"
        )
        en = (
            f"change #{later.id} ({later.user}, {at} Beijing time) touched the record after "
            f"#{entry.id}; revert #{later.id} first"
        )
        raise RevertError(_CHANGE, zh, en, status=409)
    actor = current_actor()
    with acting(actor.user, actor.via, reverts=entry.id, restoring=entry.after is None):
        _revert(store, entry, may_edit)


def _revert(store: Store, entry: Entry, may_edit: MayEdit) -> None:
    layer, rid = entry.layer, entry.record_id
    if entry.before is None:  # a create: delete the record again
        delete(store, layer, rid, may_edit=may_edit)
    elif entry.after is None:  # a delete: put it back
        _put_back(store, layer, entry.before, may_edit)
    else:
        before = entry.before
        _allowed(may_edit, str((entry.after or {}).get("town_code") or ""))
        _allowed(may_edit, str(before.get("town_code") or ""))

        def change(current: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, None]:
            _row(current, layer, rid)
            return _replaced(current, rid, _frame_of(before, layer)), None

        store.update(layer, change)


def version(store: Store, layer: str, record_id: str) -> int:
    """The record's current version (its ETag); 404 ParameterError when unknown."""
    _check_layer(layer)
    return version_of(_row(store.read(layer), layer, record_id).get(VERSION))
