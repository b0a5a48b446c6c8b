"""Places on the roads: each road's town, the roads where people live and work, and the
located villages and communities snapped onto the network.

Towns have no polygons in any source: each road takes the town of the nearest *located*
village, community or town seat along the network (approximate, 近似).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoservice.coverage.paths import nearest_sources
from geoservice.network import Network
from geoservice.network.points import access_speed_ms

if TYPE_CHECKING:
    from geoservice.coverage.roads import Roads

#: Roads that never count as roads where people live and work.
MOTORWAYS = frozenset({"motorway", "motorway_link"})
#: Tracks and paths: they count only inside settlements.
PATHS = frozenset({"track", "path", "footway", "bridleway", "steps", "cycleway"})
#: Streets that mark a settlement.
SETTLEMENT_STREETS = frozenset({"residential", "living_street"})
#: A settlement is the land within these distances (m) of a residential street, a located
#: village or community, or a located town seat.
SETTLEMENT_STREET_M = 200.0
SETTLEMENT_VILLAGE_M = 300.0
SETTLEMENT_SEAT_M = 1000.0

#: Site ``coord_source`` values whose positions are schematic (derived, not surveyed).
SCHEMATIC_COORD_SOURCES = frozenset({"schematic"})
VILLAGE_KINDS = ("village", "community")
UNASSIGNED_LABEL = "未归属乡镇"


@dataclass
class Places:
    """Per network and located-site set: road towns, the people-roads mask, villages."""

    towns: list[dict]  # code, name; index len(towns) is "unassigned"
    road_town: np.ndarray  # (R,) index into towns (len(towns): unassigned)
    people: np.ndarray  # (R,) roads where people live and work
    villages: pd.DataFrame  # located villages/communities on this network
    village_road: np.ndarray
    village_g: np.ndarray
    village_access_s: np.ndarray
    village_access_m: np.ndarray
    far_villages: int  # located but > MAX_SNAP_M from every road
    seats: int  # located town seats used

    @property
    def unassigned(self) -> int:
        return len(self.towns)

    def town_label(self, i: int) -> str:
        """The town's name; `UNASSIGNED_LABEL` for roads no located place reaches, ``""``
        in a district without towns (nothing to be unassigned from)."""
        if not self.towns:
            return ""
        return self.towns[i]["name"] if i < len(self.towns) else UNASSIGNED_LABEL

    def town_code(self, i: int) -> str:
        return self.towns[i]["code"] if i < len(self.towns) else ""


def people_roads(
    roads: Roads,
    streets_xy: np.ndarray | None = None,
    villages_xy: np.ndarray | None = None,
    seats_xy: np.ndarray | None = None,
) -> np.ndarray:
    """The roads where people live and work.

    Every road except motorways (and their ramps) and except tracks and paths outside
    settlements. A *settlement* is the land within `SETTLEMENT_STREET_M` (200 m) of a
    residential street or living street, within `SETTLEMENT_VILLAGE_M` (300 m) of a
    located village or community, or within `SETTLEMENT_SEAT_M` (1 km) of a located town
    seat; a track or path counts when its midpoint lies in one.

    Parameters
    ----------
    roads : Roads
    streets_xy, villages_xy, seats_xy : ndarray (k, 2), optional
        Metric positions; streets default to the network's residential roads.

    Returns
    -------
    ndarray of bool
    """
    hw = roads.highway
    keep = ~np.isin(hw, list(MOTORWAYS))
    path = np.isin(hw, list(PATHS))
    if not path.any():
        return keep
    mid = roads.mid[path]
    inside = np.zeros(len(mid), dtype=bool)
    streets = np.flatnonzero(np.isin(hw, list(SETTLEMENT_STREETS)))
    if len(streets):
        lines = roads.cut(streets, np.zeros(len(streets)), np.ones(len(streets)))
        tree = shapely.STRtree(lines)
        pts = shapely.points(mid)
        hit, _ = tree.query(pts, predicate="dwithin", distance=SETTLEMENT_STREET_M)
        inside[np.unique(hit)] = True
    for xy, radius in ((villages_xy, SETTLEMENT_VILLAGE_M), (seats_xy, SETTLEMENT_SEAT_M)):
        if xy is not None and len(xy):
            d, _ = cKDTree(xy).query(mid, k=1)
            inside |= d <= radius
    keep[np.flatnonzero(path)[~inside]] = False
    return keep


def build_places(
    net: Network, roads: Roads, towns: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> Places:
    towns = towns.sort_values("code").reset_index(drop=True)
    town_list = [
        {"code": str(c), "name": str(n)} for c, n in zip(towns["code"], towns["name"], strict=True)
    ]
    town_index = {t["code"]: i for i, t in enumerate(town_list)}
    # Sources for the town assignment: located villages/communities and town seats.
    vil = sites.loc[sites["kind"].isin(VILLAGE_KINDS)].reset_index(drop=True)
    seats = towns.loc[towns.geometry.notna()].reset_index(drop=True)
    src_lon = np.concatenate([vil.geometry.x.to_numpy(), seats.geometry.x.to_numpy()])
    src_lat = np.concatenate([vil.geometry.y.to_numpy(), seats.geometry.y.to_numpy()])
    src_town = np.array(
        [town_index.get(str(c), len(town_list)) for c in vil["town_code"]]
        + [town_index[str(c)] for c in seats["code"]],
        dtype=np.int64,
    )
    n_vil = len(vil)
    road_town = np.full(roads.n, len(town_list), dtype=np.int64)
    vr = np.empty(0, dtype=np.int64)
    vg = np.empty(0)
    vd = np.empty(0)
    ok = np.zeros(len(src_lon), dtype=bool)
    if len(src_lon):
        snap = net.snap(src_lon, src_lat, with_points=False)
        ok = snap.on_network
        r, g = roads.on_road(snap)
        use = np.flatnonzero(ok & (src_town < len(town_list)))
        if len(use):
            # Undirected: a road belongs to the place nearest to it, whichever way one-way
            # streets run.
            found = (r[use], g[use], snap.distance_m[use])
            near, which = nearest_sources(roads.sym_len, roads, found, (roads.lf, roads.lf), 1)
            dist, src = near[:, 0], which[:, 0]
            node_town = np.where(src >= 0, src_town[use][np.maximum(src, 0)], len(town_list))
            # A road belongs where its nearer end belongs.
            by_u = dist[roads.u] <= dist[roads.v]
            road_town = np.where(by_u, node_town[roads.u], node_town[roads.v])
            road_town[~np.isfinite(np.minimum(dist[roads.u], dist[roads.v]))] = len(town_list)
        vr, vg, vd = r[:n_vil], g[:n_vil], snap.distance_m[:n_vil]
    vok = ok[:n_vil]
    x, y = net.to_metric(src_lon, src_lat) if len(src_lon) else (np.empty(0), np.empty(0))
    xy = np.column_stack([x, y])
    people = people_roads(roads, villages_xy=xy[:n_vil][vok], seats_xy=xy[n_vil:][ok[n_vil:]])
    villages = vil.loc[vok].reset_index(drop=True)
    villages = pd.DataFrame(
        {
            "id": villages["id"].astype(str),
            "name": villages["name"].astype(str),
            "kind": villages["kind"].astype(str),
            "town": [town_index.get(str(c), len(town_list)) for c in villages["town_code"]],
            "lon": villages.geometry.x.to_numpy(),
            "lat": villages.geometry.y.to_numpy(),
            "schematic": villages["coord_source"].isin(SCHEMATIC_COORD_SOURCES).to_numpy()
            if "coord_source" in villages
            else np.zeros(len(villages), dtype=bool),
        }
    )
    return Places(
        towns=town_list,
        road_town=road_town,
        people=people,
        villages=villages,
        village_road=vr[vok],
        village_g=vg[vok],
        village_access_s=vd[vok] / access_speed_ms(net.mode),
        village_access_m=vd[vok],
        far_villages=int((~vok).sum()),
        seats=int(ok[n_vil:].sum()),
    )
