"""Where the villages and communities are: stored coordinates, else the road network's
``place=*`` nodes.

No reachable source has coordinates for the 429 villages and communities (their
``coord_source`` is ``missing``). A real OSM extract carries ``place=*`` nodes with names
and sometimes NBS codes, and the shipped schematic network carries one ``place`` node per
village or community it draws (:mod:`tools.schematic`). :func:`site_positions`
combines them with the store:

1. A site with coordinates in the store keeps them (``coord_source`` as stored): what the
   union imports always wins.
2. Else a village or community takes the position of the active network's place with its
   NBS code (``sites.code`` = the place's code, see :data:`geoservice.network.osm.PLACE_CODE_TAGS`).
3. Else the place with exactly its name (``name`` or ``official_name`` = the place's
   ``name`` or ``name:zh``) in the same town. A place is in the town its own tags name
   (:data:`geoservice.network.osm.PLACE_TOWN_TAGS`, by full or short town name), otherwise in the
   town whose seat is nearest (towns without a seat point get no places this way).

Matched positions have ``coord_source`` ``"schematic"`` on the schematic network (shown as
"示意位置") and ``"osm"`` on a real extract. They are derived at run time from the active
network and never written to the store, so an export and re-import cannot turn them into
imported coordinates.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from geoservice import district as _district
from geoservice.i18n import N_
from geoservice.model import CRS_STORAGE
from geoservice.network import NetworkLibrary
from geoservice.store import Store
from geoservice.store.towns import Towns

#: Label of a position taken from the schematic network.
SCHEMATIC_LABEL = N_("示意位置")
#: Site kinds that are settlements and can be matched to places.
SETTLEMENT_KINDS = ("village", "community")
#: ``place=*`` values in order of preference for each site kind (a village is best
#: represented by ``place=village``, a community by ``place=neighbourhood``).
PLACE_PREFERENCE = {
    "village": (
        "village", "hamlet", "isolated_dwelling", "neighbourhood", "quarter", "suburb",
        "city_block", "town",
    ),
    "community": (
        "neighbourhood", "quarter", "suburb", "city_block", "village", "hamlet",
        "isolated_dwelling", "town",
    ),
}  # fmt: skip
_SPLIT = re.compile(r"[,;，；、/]")


def site_positions(store: Store, library: NetworkLibrary) -> gpd.GeoDataFrame:
    """Sites with positions: stored coordinates, else matched places of the active network.

    Parameters
    ----------
    store : Store
        Its ``sites`` and ``towns`` layers are read (never written).
    library : NetworkLibrary
        The active network's places (:meth:`NetworkLibrary.places`).

    Returns
    -------
    GeoDataFrame
        The sites layer (WGS84) with ``lon``/``lat``/geometry filled where a position is
        known, ``coord_source`` ``"schematic"``/``"osm"`` for matched ones, and
        ``matched_by`` (``"code"``, ``"name"`` or ``""``), ``place_osmid`` (or -1) and
        ``coord_note`` (:data:`SCHEMATIC_LABEL` for schematic positions).
    """
    places = library.places()
    return match_sites(
        store.read("sites"),
        places,
        store.read("towns"),
        schematic=bool(places.attrs.get("schematic")),
        metric_crs=_district.current(store).metric_crs,
    )


def located_sites(store: Store, library: NetworkLibrary | None = None) -> gpd.GeoDataFrame:
    """The sites that have a position: :func:`site_positions` (stored coordinates, else a
    matched place of the active network, never written to the store), or the store's own
    coordinates alone without a library; index reset."""
    sites = store.sites() if library is None else site_positions(store, library)
    located = sites.geometry.notna() & ~sites.geometry.is_empty
    return sites.loc[located].reset_index(drop=True)


def match_sites(
    sites: gpd.GeoDataFrame,
    places: pd.DataFrame,
    towns: gpd.GeoDataFrame,
    *,
    schematic: bool,
    metric_crs: str,
) -> gpd.GeoDataFrame:
    """Give unlocated villages and communities the position of their place (see module).

    Parameters
    ----------
    sites : GeoDataFrame
        The store's sites layer.
    places : DataFrame
        Places table (:func:`geoservice.network.osm.places_frame` columns).
    towns : GeoDataFrame
        The store's towns layer (``code``, ``name``, seat points where known).
    schematic : bool
        The places come from the schematic network.
    metric_crs : str
        The district's metric CRS, in which the nearest town seat is found.

    Returns
    -------
    GeoDataFrame
        As :func:`site_positions`; a copy, the inputs are not changed.
    """
    out = gpd.GeoDataFrame(sites.copy(), geometry="geometry", crs=CRS_STORAGE)
    out["matched_by"] = ""
    out["place_osmid"] = np.int64(-1)
    out["coord_note"] = ""
    geom = out.geometry
    located = (out["coord_source"] != "missing") & geom.notna() & ~geom.is_empty
    wanted = np.flatnonzero((~located & out["kind"].isin(SETTLEMENT_KINDS)).to_numpy()).tolist()
    if not wanted or places is None or not len(places):
        return out
    places = pd.DataFrame(places).reset_index(drop=True)
    place_town = _place_towns(places, towns, metric_crs)
    used: set[int] = set()
    found: dict[int, tuple[int, str]] = {}
    by_code: dict[str, list[int]] = {}
    for i, code in enumerate(places["code"]):
        if code:
            by_code.setdefault(code, []).append(i)
    by_name: dict[tuple[str, str], list[int]] = {}
    for i, (name, name_zh, town) in enumerate(
        zip(places["name"], places["name_zh"], place_town, strict=True)
    ):
        for n in {name, name_zh} - {""}:
            by_name.setdefault((n, town), []).append(i)
    code, kind, town = (out[c].astype(str).tolist() for c in ("code", "kind", "town_code"))
    names = [
        {str(a or ""), str(b or "")} - {""}
        for a, b in zip(
            out["name"], out.get("official_name", pd.Series("", index=out.index)), strict=True
        )
    ]
    # Codes first for every site, then names for the rest: a code is unambiguous.
    for row in wanted:
        best = _best(places, by_code.get(code[row], []), kind[row], used)
        if best is not None:
            found[row] = (best, "code")
            used.add(best)
    for row in wanted:
        if row in found:
            continue
        cands = [i for n in sorted(names[row]) for i in by_name.get((n, town[row]), [])]
        best = _best(places, cands, kind[row], used)
        if best is not None:
            found[row] = (best, "name")
            used.add(best)
    if not found:
        return out
    rows = np.array(sorted(found))
    idx = np.array([found[r][0] for r in rows])
    lon = places["lon"].to_numpy()[idx]
    lat = places["lat"].to_numpy()[idx]
    col = out.columns.get_loc
    out.iloc[rows, col("lon")] = lon
    out.iloc[rows, col("lat")] = lat
    out.iloc[rows, col("coord_source")] = "schematic" if schematic else "osm"
    out.iloc[rows, col("matched_by")] = [found[r][1] for r in rows]
    out.iloc[rows, col("place_osmid")] = places["osmid"].to_numpy()[idx]
    out.iloc[rows, col("coord_note")] = SCHEMATIC_LABEL if schematic else ""
    geometry = out.geometry.copy()
    geometry.iloc[rows] = gpd.points_from_xy(lon, lat)
    return out.set_geometry(geometry)


def _best(places: pd.DataFrame, cands: list[int], kind: str, used: set[int]) -> int | None:
    """The unused candidate whose ``place`` suits the site kind best (then lowest id)."""
    order = PLACE_PREFERENCE.get(kind, PLACE_PREFERENCE["village"])
    free = [i for i in dict.fromkeys(cands) if i not in used]
    if not free:
        return None

    def rank(i: int) -> tuple[int, int]:
        p = places.at[i, "place"]
        return (order.index(p) if p in order else len(order), int(places.at[i, "osmid"]))

    return min(free, key=rank)


def _place_towns(places: pd.DataFrame, towns: gpd.GeoDataFrame, metric_crs: str) -> list[str]:
    """The town code of every place: named in its tags, else of the nearest town seat."""
    resolver = Towns.from_frame(towns)
    out = []
    for text in places["town"]:
        code = ""
        for token in _SPLIT.split(text or ""):
            code = resolver.resolve(token) or ""
            if code:
                break
        out.append(code)
    seats = towns[towns.geometry.notna() & ~towns.geometry.is_empty]
    need = [i for i, c in enumerate(out) if not c]
    if need and len(seats):
        to_m = Transformer.from_crs(CRS_STORAGE, metric_crs, always_xy=True)
        sx, sy = to_m.transform(seats.geometry.x.to_numpy(), seats.geometry.y.to_numpy())
        px, py = to_m.transform(places["lon"].to_numpy()[need], places["lat"].to_numpy()[need])
        d = np.hypot(px[:, None] - sx[None], py[:, None] - sy[None])
        nearest = seats["code"].to_numpy()[np.argmin(d, axis=1)]
        for i, code in zip(need, nearest, strict=True):
            out[i] = str(code)
    return out
