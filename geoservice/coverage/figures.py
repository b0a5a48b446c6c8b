"""The figures of a coverage answer: district, towns, uncovered villages, gaps, notices.

Figures are given over the roads where people live and work (see
:func:`~geoservice.coverage.places.people_roads`) with the whole network's beside them;
per-town figures are approximate (towns have no boundaries).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geoservice.coverage.envelope import cost_at
from geoservice.coverage.query import MAX_GAP_FEATURES, NOTICES, num
from geoservice.district import OUTSIDE_NOTICE
from geoservice.model import SITE_KINDS
from geoservice.network import Network

if TYPE_CHECKING:
    from geoservice.coverage.envelope import Pieces
    from geoservice.coverage.paths import Field
    from geoservice.coverage.places import Places
    from geoservice.coverage.query import CoverageQuery
    from geoservice.coverage.roads import Roads
    from geoservice.responses import Notice


def _share(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def figures(
    query: CoverageQuery,
    roads: Roads,
    places: Places,
    pieces: Pieces,
    acftu: Pieces,
    fld: Field,
    stations: pd.DataFrame,
) -> dict:
    K = len(query.minutes)
    T = len(places.towns) + 1
    length = pieces.length(roads)
    town = places.road_town[pieces.r]
    people = places.people[pieces.r]

    def by_town(mask: np.ndarray) -> np.ndarray:
        return np.bincount(town[mask], weights=length[mask], minlength=T)

    total_people = by_town(people)
    total_all = by_town(np.ones(len(length), dtype=bool))
    cov_people = [by_town(people & (pieces.lvl1 <= k)) for k in range(K)]
    cov_all = [by_town(pieces.lvl1 <= k) for k in range(K)]
    cross_people = [by_town(people & (pieces.lvl2 <= k)) for k in range(K)]
    cross_all = [by_town(pieces.lvl2 <= k) for k in range(K)]
    a_len = acftu.length(roads)
    a_town = places.road_town[acftu.r]
    a_people = places.people[acftu.r] & (acftu.lvl1 == 0)
    acftu_people = np.bincount(a_town[a_people], weights=a_len[a_people], minlength=T)
    # Villages: travel time from their position to the nearest counted station.
    vil = places.villages
    if len(vil):
        t_net, src = cost_at(roads, fld, places.village_road, places.village_g)
        vtime = t_net + places.village_access_s
    else:
        vtime = np.empty(0)
        src = np.empty(0, dtype=np.int64)
    vtown = vil["town"].to_numpy(np.int64) if len(vil) else np.empty(0, dtype=np.int64)
    v_total = np.bincount(vtown, minlength=T)
    v_cov = [np.bincount(vtown[vtime <= query.seconds[k]], minlength=T) for k in range(K)]
    v_schem = (
        np.bincount(vtown[vil["schematic"].to_numpy(bool)], minlength=T)
        if len(vil)
        else np.zeros(T, dtype=np.int64)
    )

    def sums(x: np.ndarray) -> list[float]:
        """Per town, then the district (index T)."""
        return [*(float(v) for v in x), float(np.sum(x))]

    people_m, all_m = sums(total_people), sums(total_all)
    cov_p, cov_a = [sums(x) for x in cov_people], [sums(x) for x in cov_all]
    cross_p, cross_a = [sums(x) for x in cross_people], [sums(x) for x in cross_all]
    vil_cov, vil_total, vil_schem = [sums(x) for x in v_cov], sums(v_total), sums(v_schem)
    acftu_m = sums(acftu_people)
    minutes = [num(m) for m in query.minutes]

    def row(t: int) -> dict:
        return {
            "road_km": round(people_m[t] / 1000, 3),
            "all_road_km": round(all_m[t] / 1000, 3),
            "villages": int(vil_total[t]),
            "villages_schematic": int(vil_schem[t]),
            "acftu_km": round(acftu_m[t] / 1000, 3),
            "acftu_share": _share(acftu_m[t], people_m[t]),
            "thresholds": [
                {
                    "minutes": minutes[k],
                    "covered_km": round(cov_p[k][t] / 1000, 3),
                    "covered_share": _share(cov_p[k][t], people_m[t]),
                    "cross_km": round(cross_p[k][t] / 1000, 3),
                    "cross_share": _share(cross_p[k][t], people_m[t]),
                    "area_km2": None,
                    "villages_covered": int(vil_cov[k][t]),
                    "villages_share": _share(vil_cov[k][t], vil_total[t]),
                    "all_roads": {
                        "covered_km": round(cov_a[k][t] / 1000, 3),
                        "covered_share": _share(cov_a[k][t], all_m[t]),
                        "cross_km": round(cross_a[k][t] / 1000, 3),
                    },
                }
                for k in range(K)
            ],
        }

    district = row(T)
    district["approximate"] = False
    # Every town (a town with no road has no located seat or village near a road), then
    # the roads no located place reaches, if any.
    last = T if total_all[T - 1] > 0 or v_total[T - 1] > 0 else T - 1
    towns = [
        {"code": places.town_code(t), "name": places.town_label(t), "approximate": True, **row(t)}
        for t in range(last if places.towns else 0)  # no towns: no per-town figures
    ]
    villages = []
    tmax = query.seconds[-1]
    far = np.flatnonzero(~(vtime <= tmax)).tolist() if len(vil) else []
    if far:
        cols = {c: vil[c].to_numpy()[far].tolist() for c in vil.columns}
        ids, names = stations["id"].tolist(), stations["name"].tolist()
    for j, i in enumerate(far):
        v = {c: values[j] for c, values in cols.items()}
        t = float(vtime[i])
        s = int(src[i])
        known = s >= 0 and math.isfinite(t)
        villages.append(
            {
                "id": str(v["id"]),
                "name": str(v["name"]),
                "kind": str(v["kind"]),
                "kind_label": SITE_KINDS.get(v["kind"], v["kind"]),
                "town": places.town_label(int(v["town"])),
                "town_code": places.town_code(int(v["town"])),
                "lon": round(float(v["lon"]), 7),
                "lat": round(float(v["lat"]), 7),
                "schematic": bool(v["schematic"]),
                "travel_time_s": round(t, 1) if math.isfinite(t) else None,
                "travel_time_min": math.ceil(t / 60) if math.isfinite(t) else None,
                "nearest_station_id": str(ids[s]) if known else None,
                "nearest_station": str(names[s]) if known else None,
            }
        )
    villages.sort(key=lambda v: (v["travel_time_s"] is None, -(v["travel_time_s"] or 0), v["id"]))
    gaps, gap_pieces, gap_groups = _gaps(query, roads, places, pieces)
    return {
        "district": district,
        "towns": towns,
        "villages": villages,
        "gaps": gaps,
        "gap_pieces": gap_pieces,
        "gap_groups": gap_groups,
    }


#: Road classes in plain words, for a gap on a road without a name.
ROAD_CLASS_LABELS = {
    "motorway": "高速公路",
    "trunk": "快速路",
    "primary": "主干道",
    "secondary": "次干道",
    "tertiary": "县乡道",
    "unclassified": "乡村道路",
    "residential": "居民区道路",
    "living_street": "居民区道路",
    "service": "内部道路",
    "track": "田间小路",
    "path": "小路",
    "footway": "步行道",
    "pedestrian": "步行街",
    "cycleway": "自行车道",
    "steps": "台阶",
}


def _road_label(highway: str, name: str) -> str:
    """A road's name, or its class in plain words where it has none."""
    if name:
        return name
    base = highway.removesuffix("_link")
    label = ROAD_CLASS_LABELS.get(base, "其他道路")
    return f"{label}连接道" if highway.endswith("_link") else f"无名{label}"


def _gaps(
    query: CoverageQuery, roads: Roads, places: Places, pieces: Pieces
) -> tuple[list[dict], Pieces, list[np.ndarray]]:
    """The people roads beyond the largest threshold, per town and per road, longest first.

    A gap is one road (by name, or by class where it has no name) in one town (the town
    each road is counted under in the per-town figures): a long uncovered stretch is
    thereby split where it crosses a town or changes road, so that no town takes the
    length of its neighbours. Returns the gap records (at most `MAX_GAP_FEATURES`), the
    uncovered pieces and, per gap, the indices of its pieces (geometry is cut only when a
    layer is asked for).
    """
    K = len(query.minutes)
    out = pieces.take((pieces.lvl1 == K) & places.people[pieces.r])
    if not len(out.r):
        return [], out, []
    name = np.asarray(roads.name, dtype=str)[out.r]
    highway = np.asarray(roads.highway, dtype=str)[out.r]
    label = np.array([_road_label(h, n) for h, n in zip(highway, name, strict=True)], dtype=str)
    town = places.road_town[out.r]
    keys = pd.MultiIndex.from_arrays([town, label])
    comp = pd.factorize(keys)[0].astype(np.int64)
    length = out.length(roads)
    glen = np.bincount(comp, weights=length)
    order = np.lexsort((np.arange(len(glen)), -glen))[:MAX_GAP_FEATURES]
    gtime = np.full(len(glen), np.inf)
    np.minimum.at(gtime, comp, np.minimum(out.t0, out.t1))
    members = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[members], np.arange(len(glen) + 1))
    beyond = num(query.minutes[-1])
    gaps, groups = [], []
    for rank, c in enumerate(order.tolist(), start=1):
        idx = members[bounds[c] : bounds[c + 1]]
        t = float(gtime[c])
        km = round(float(glen[c]) / 1000, 3)
        where = places.town_label(int(town[idx[0]]))
        road = str(label[idx[0]])
        gaps.append(
            {
                "rank": rank,
                "length_km": km,
                "town": where,
                "town_code": places.town_code(int(town[idx[0]])),
                "road": road,
                "road_named": bool(name[idx[0]]),
                "summary": f"{where + ' ' if where else ''}{road}：超过 {beyond} 分钟可达的道路 "
                f"{km:.1f} 公里",
                "nearest_station_min": round(t / 60, 1) if math.isfinite(t) else None,
                "pieces": len(idx),
            }
        )
        groups.append(idx)
    return gaps, out, groups


def notices(net: Network, stations: pd.DataFrame, places: Places) -> list[Notice]:
    # A district without towns has no per-town figures to call approximate.
    codes = ["towns_approximate"] if places.towns else []
    if net.meta.get("outside_district"):
        codes.append(OUTSIDE_NOTICE["code"])
    if net.schematic:
        codes.append("schematic_network")
    if len(stations) and (stations["source"] == "sample").any():
        codes.append("sample_stations")
    if len(places.villages) == 0:
        codes.append("no_villages")
    elif places.villages["schematic"].any():
        codes.append("schematic_villages")
    return [{"code": c, "zh": NOTICES[c][0], "en": NOTICES[c][1]} for c in codes]
