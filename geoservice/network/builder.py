"""Building the networks of each mode: from OSM arrays (vectorised) or an osmnx graph.

Both give the same networks: osmnx's way parsing and topological simplification, then the
rules per mode (see :mod:`geoservice.network`).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from geoservice import crs
from geoservice.errors import NetworkError
from geoservice.network import osm, simplify
from geoservice.network.graph import MODE_LABELS, MODES, Column, Network
from geoservice.network.points import WALK_KMH

if TYPE_CHECKING:  # networkx: imported where a graph is read or built, not at start
    import networkx as nx

    from geoservice.jobs.capped import Progress

#: Bump when the build or the cache format changes, so old caches are not read (4: text
#: columns as codes; 5: the snapping index saved with the network).
BUILD_VERSION = 5

_WALK_EXCLUDED = {
    "motorway",
    "motorway_link",
    "trunk_link",
    "bridleway",
    "bus_guideway",
    "raceway",
    "construction",
    "proposed",
    "abandoned",
    "platform",
    "corridor",
}
_BIKE_EXCLUDED = _WALK_EXCLUDED | {"steps", "footway", "pedestrian", "corridor"}
_DRIVE_ALLOWED = {
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "service", "road",
}  # fmt: skip

#: e-bike speeds (km/h) by highway type; other allowed types use ``_BIKE_DEFAULT``.
BIKE_KMH = {
    "trunk": 20, "primary": 20, "primary_link": 18, "secondary": 20, "secondary_link": 18,
    "tertiary": 18, "tertiary_link": 18, "unclassified": 18, "road": 18, "cycleway": 20,
    "residential": 16, "living_street": 12, "service": 15, "track": 15, "path": 15,
    "pedestrian": 10, "footway": 10,
}  # fmt: skip
_BIKE_DEFAULT = 15.0

#: Car speeds (km/h) by highway type where no ``maxspeed`` is tagged.
DRIVE_KMH = {
    "motorway": 100, "motorway_link": 50, "trunk": 70, "trunk_link": 40, "primary": 60,
    "primary_link": 40, "secondary": 50, "secondary_link": 35, "tertiary": 40,
    "tertiary_link": 30, "unclassified": 30, "road": 30, "residential": 25,
    "living_street": 15, "service": 15,
}  # fmt: skip
_DRIVE_DEFAULT = 30.0


# -- mode rules -----------------------------------------------------------------------------


def _first(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _allowed(mode: str, d: dict) -> bool:
    hw = _first(d.get("highway"))
    if not hw or _first(d.get("area")) == "yes":
        return False
    access = _first(d.get("access"))
    if mode == "walk":
        foot = _first(d.get("foot"))
        if foot in ("no", "private") or (access in ("no", "private") and foot != "yes"):
            return False
        return hw not in _WALK_EXCLUDED or foot == "yes"
    if mode == "bike":
        bicycle = _first(d.get("bicycle"))
        if bicycle in ("no", "private") or (access in ("no", "private") and bicycle != "yes"):
            return False
        return hw not in _BIKE_EXCLUDED or (bicycle == "yes" and hw not in ("motorway",))
    motor = _first(d.get("motor_vehicle")) or _first(d.get("motorcar"))
    if motor in ("no", "private") or (access in ("no", "private") and motor != "yes"):
        return False
    return hw in _DRIVE_ALLOWED


_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


def parse_maxspeed(value: object) -> float | None:
    """``"60"`` → 60.0, ``"30 mph"`` → 48.3; anything else (``CN:urban``, ``none``) → None."""
    m = _MAXSPEED.match(_first(value))
    if not m:
        return None
    speed = float(m.group(1)) * (1.609344 if (m.group(2) or "").lower() == "mph" else 1.0)
    return speed if speed > 0 else None


def _speed_kmh(mode: str, d: dict) -> float:
    hw = _first(d.get("highway"))
    if mode == "walk":
        return WALK_KMH
    if mode == "bike":
        return float(BIKE_KMH.get(hw, _BIKE_DEFAULT))
    tagged = parse_maxspeed(d.get("maxspeed"))
    return tagged if tagged else float(DRIVE_KMH.get(hw, _DRIVE_DEFAULT))


#: The way tags the mode rules read (``name`` is not one of them).
_RULE_TAGS = tuple(k for k in osm.ROUTING_TAGS if k != "name")


@dataclass
class _TagCombos:
    """The distinct combinations of the :data:`_RULE_TAGS` among the ways: each as the
    tags the rules read (``tags``, absent ones left out) and each way's combination
    (``way``). A city has millions of ways and a few hundred combinations."""

    tags: list[dict[str, str]]
    way: np.ndarray


def _tag_combos(data: osm.OsmData) -> _TagCombos:
    key = np.zeros(data.n_ways, dtype=np.int64)
    for k in _RULE_TAGS:
        codes, values = pd.factorize(data.way_tags[k])
        # Both factors are below the number of ways: the product fits in 64 bits.
        key = pd.factorize(key * (len(values) + 1) + codes)[0]
    _, first, way = simplify.unique(key, return_index=True, return_inverse=True)
    columns = [(k, data.way_tags[k][first].tolist()) for k in _RULE_TAGS]
    tags = [{k: column[i] for k, column in columns if column[i] != ""} for i in range(len(first))]
    return _TagCombos(tags, way)


def _way_rules(combos: _TagCombos, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_allowed` and :func:`_speed_kmh` of every way, evaluated once per distinct
    combination of the tags they read."""
    allowed = np.array([_allowed(mode, d) for d in combos.tags], dtype=bool)
    speed = np.array([_speed_kmh(mode, d) for d in combos.tags], dtype=float)
    return allowed[combos.way], speed[combos.way]


# -- building from arrays (OSM files) --------------------------------------------------------

#: osmnx's ``oneway`` values for a one-way way, and those meaning "against the node order".
_ONEWAY_VALUES = ("yes", "true", "1", "-1", "reverse", "T", "F")
_REVERSED_VALUES = ("-1", "reverse", "T")
#: osmnx's ``distance.EARTH_RADIUS_M``.
EARTH_RADIUS_M = 6_371_009


def great_circle(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance in metres, computed exactly as osmnx's ``distance.great_circle``
    (same operations in the same order, so lengths agree to the last bit)."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dy = y2 - y1
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    dx = x2 - x1
    h = np.sin(dy / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin(dx / 2) ** 2
    h = np.minimum(1, h)
    return 2 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M


@dataclass
class _RawGraph:
    """The unsimplified directed road graph of all highway ways (osmnx's ``G``) as edges in
    osmnx's insertion order: way by way, the way's direction then (two-way) the reverse."""

    u: np.ndarray
    v: np.ndarray
    way: np.ndarray
    length: np.ndarray
    n: int


def _raw_graph(data: osm.OsmData, inside: np.ndarray | None) -> _RawGraph:
    oneway = data.way_tags["oneway"]
    one_way = np.isin(oneway, _ONEWAY_VALUES) | (data.way_tags["junction"] == "roundabout")
    backwards = one_way & np.isin(oneway, _REVERSED_VALUES)
    su, sv, sw = data.seg_u, data.seg_v, data.seg_way
    flip = backwards[sw]
    fwd_u, fwd_v = np.where(flip, sv, su), np.where(flip, su, sv)
    two = ~one_way[sw]
    u = np.concatenate([fwd_u, sv[two]])
    v = np.concatenate([fwd_v, su[two]])
    way = np.concatenate([sw, sw[two]])
    # Stable by way: a way's own direction precedes its reverse, as in osmnx's _add_paths.
    order = np.argsort(way, kind="stable")
    u, v, way = u[order], v[order], way[order]
    if inside is not None:
        keep = inside[u] & inside[v]
        u, v, way = u[keep], v[keep], way[keep]
    lon, lat = data.node_xy[:, 0], data.node_xy[:, 1]
    length = great_circle(lat[u], lon[u], lat[v], lon[v])
    return _RawGraph(u, v, way, length, len(data.node_id))


def build_from_osm(
    data: osm.OsmData,
    modes: tuple[str, ...] = MODES,
    *,
    source: str | None = None,
    clip: shapely.Geometry | None = None,
    progress: Progress | None = None,
) -> dict[str, Network]:
    """Build the :class:`Network` of each mode from the arrays of :func:`osm.read_osm`.

    Gives the same networks as :func:`build` on the osmnx graph of the same file (same
    nodes and edges, travel times equal to rounding), vectorised: osmnx's way parsing
    (one-way values, roundabouts, reversed ways), great-circle edge lengths, the mode
    rules, the walk rule that adds the reverse of a one-way edge when the raw graph has no
    edge back, and :func:`geoservice.network.simplify.simplify` for osmnx's ``simplify_graph``.
    A merged edge takes ``highway`` and ``name`` from the first edge of its path.

    Parameters
    ----------
    data : OsmData
        The file's roads.
    modes : tuple of str
        Modes to build.
    source : str, optional
        Recorded in the metadata (default ``data.source``).
    clip : shapely geometry, optional
        WGS84 polygon; nodes outside are dropped (extracts larger than the district).
    progress : callable, optional
        ``progress(step, 0, 1)`` as each step starts: ``"graph"`` (the directed graph of
        all ways, clipped), then per mode ``"build:<mode>"`` (its roads and travel times)
        and ``"simplify:<mode>"``.

    Raises
    ------
    NetworkError
        A mode has no roads.
    """
    for mode in modes:
        if mode not in MODES:
            msg = f"unknown mode {mode!r}; expected one of {', '.join(MODES)}"
            raise ValueError(msg)
    report = progress or (lambda step, done, total: None)
    started = time.perf_counter()
    report("graph", 0, 1)
    inside = None
    if clip is not None:
        inside = shapely.contains_xy(clip, data.node_xy[:, 0], data.node_xy[:, 1])
    raw = _raw_graph(data, inside)
    # The ways' tags the modes read, once for every mode.
    combos = _tag_combos(data)
    text = {k: _text_codes(data.way_tags[k]) for k in _TEXT}
    shared = time.perf_counter() - started
    out = {}
    for mode in modes:
        t0 = time.perf_counter()
        report(f"build:{mode}", 0, 1)
        net = _build_mode(data, raw, mode, source or data.source, combos, text, report)
        net.meta.update(
            source=source or data.source,
            schematic=data.schematic,
            build_seconds=round(shared + time.perf_counter() - t0, 2),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            version=BUILD_VERSION,
            **{k: v for k, v in data.report().items() if k != "places"},
        )
        out[mode] = net
    return out


#: The way tags a network keeps (as :class:`Column`), from the first way of each edge.
_TEXT = ("highway", "name")


def _build_mode(
    data: osm.OsmData,
    raw: _RawGraph,
    mode: str,
    label: str,
    combos: _TagCombos,
    text: dict[str, tuple[np.ndarray, np.ndarray]],
    report: Progress,
) -> Network:
    """One mode's network from the raw graph (``label`` names the source in messages),
    the ways' rule tag combinations and the distinct values and per-way codes of the
    :data:`_TEXT` tags (:func:`_text_codes`)."""
    allowed, speed = _way_rules(combos, mode)
    ok = allowed[raw.way]
    u, v, way, length = raw.u[ok], raw.v[ok], raw.way[ok], raw.length[ok]
    t = length / (speed[way] / 3.6)
    if mode == "walk":
        # Walking ignores one-way: add the reverse of every edge the raw graph has no
        # edge back for (after the mode's own edges, as in _mode_graph).
        lonely = _no_edge_back(raw, u, v)
        u, v = np.concatenate([u, v[lonely]]), np.concatenate([v, u[lonely]])
        way = np.concatenate([way, way[lonely]])
        length = np.concatenate([length, length[lonely]])
        t = np.concatenate([t, t[lonely]])
    if not len(u):
        msg = f"没有可用于{MODE_LABELS[mode]}的道路 / no {mode} roads in {label or 'the network'}"
        raise NetworkError(msg)
    report(f"simplify:{mode}", 0, 1)
    s = simplify.simplify(u, v, length, t, raw.n)
    del u, v, length, t  # (a city's mode build peaks around here)
    if not len(s.u):
        msg = f"没有可用于{MODE_LABELS[mode]}的道路 / no {mode} roads in {label or 'the network'}"
        raise NetworkError(msg)
    nodes = simplify.unique(np.concatenate([s.u, s.v]))
    node_xy = data.node_xy[nodes]
    edge_u = np.searchsorted(nodes, s.u)
    edge_v = np.searchsorted(nodes, s.v)
    first_way = way[s.first]
    return Network(
        mode=mode,
        node_xy=node_xy,
        node_osmid=data.node_id[nodes],
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length=s.length,
        edge_time=s.time,
        edge_twin=_twins(edge_u, edge_v, s.length),
        edge_highway=_column(*text["highway"], first_way),
        edge_name=_column(*text["name"], first_way),
        geom_xy=data.node_xy[s.path_nodes],
        geom_offsets=s.path_offsets,
        metric_crs=crs.utm_crs(*node_xy.mean(axis=0)),
    )


def _text_codes(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(text.astype(str), return_inverse=True)`` by hashing (``pd.factorize``)
    and sorting only the distinct values: sorting millions of texts took seconds."""
    codes, values = pd.factorize(text)
    values = np.asarray(values, dtype=str)
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return values[order], rank[codes]


def _no_edge_back(raw: _RawGraph, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Which edges ``u → v`` have no edge ``v → u`` in the raw graph."""
    back = simplify.unique(raw.u * raw.n + raw.v)
    key = v * raw.n + u
    pos = np.clip(np.searchsorted(back, key), 0, max(len(back) - 1, 0))
    return back[pos] != key


def _column(values: np.ndarray, way_codes: np.ndarray, ways: np.ndarray) -> Column:
    """``Column.of(text[ways])`` for the ``text`` of every way given as its sorted distinct
    ``values`` and ``way_codes``, without the text of every edge (sorting millions of edge
    texts per mode took a tenth of a city's build)."""
    used, codes = simplify.unique(way_codes[ways], return_inverse=True)
    kept = values[used]
    # The fixed width Column.of would give: that of the longest text kept.
    width = max(int(np.char.str_len(kept).max(initial=0)), 1)
    return Column(
        kept.astype(f"<U{width}"), codes.astype(np.min_scalar_type(max(len(kept) - 1, 0)))
    )


# -- building from an osmnx graph (GraphML files, downloads) ---------------------------------


def _mode_graph(G: nx.MultiDiGraph, mode: str) -> nx.MultiDiGraph:
    """The raw (unsimplified) graph of one mode, with ``travel_time`` on every edge."""
    import networkx as nx

    H = nx.MultiDiGraph()
    H.graph.update(G.graph)
    H.graph["simplified"] = False
    for u, v, k, d in G.edges(keys=True, data=True):
        if not _allowed(mode, d):
            continue
        t = d["length"] / (_speed_kmh(mode, d) / 3.6)
        attrs = {
            key: d[key] for key in ("highway", "name", "length", "geometry", "osmid") if key in d
        }
        attrs["travel_time"] = t
        H.add_edge(u, v, key=k, **attrs)
        if mode == "walk" and not G.has_edge(v, u):
            # Walking ignores one-way: add the reverse of one-way ways.
            back = dict(attrs)
            if "geometry" in back:
                back["geometry"] = shapely.reverse(back["geometry"])
            H.add_edge(v, u, **back)
    for n in H.nodes:
        H.nodes[n].update(G.nodes[n])
    return H


def build(G: nx.MultiDiGraph, mode: str, *, source: str = "", schematic: bool = False,
          clip: shapely.Geometry | None = None) -> Network:  # fmt: skip
    """Build a mode's :class:`Network` from an osmnx graph (the networkx path).

    Used for GraphML files and downloads, and as the baseline :func:`build_from_osm` is
    checked against (``bench/bench_osm.py``, ``tests/test_osm_reader.py``).

    Parameters
    ----------
    G : MultiDiGraph
        Unsimplified osmnx graph from :func:`geoservice.network.osm.read_graph` (a simplified
        GraphML graph is accepted and not simplified again).
    mode : str
        ``walk``, ``bike`` or ``drive``.
    clip : shapely geometry, optional
        WGS84 polygon; nodes outside are dropped (extracts larger than the district).
    """
    if mode not in MODES:
        msg = f"unknown mode {mode!r}; expected one of {', '.join(MODES)}"
        raise ValueError(msg)
    started = time.perf_counter()
    if clip is not None:
        xs, ys = graph_xy(G)
        inside = shapely.contains_xy(clip, xs, ys)
        if not inside.all():
            G = G.subgraph([n for n, ok in zip(G.nodes, inside, strict=True) if ok]).copy()
    H = _mode_graph(G, mode)
    if H.number_of_edges() == 0:
        msg = f"没有可用于{MODE_LABELS[mode]}的道路 / no {mode} roads in {source or 'the network'}"
        raise NetworkError(msg)
    if not G.graph.get("simplified"):
        import osmnx as ox  # 0.9 s with its imports: only when a graph is built this way

        H = ox.simplify_graph(H, edge_attr_aggs={"length": sum, "travel_time": sum})
    net = _to_arrays(H, mode)
    net.meta.update(
        source=source,
        schematic=schematic,
        build_seconds=round(time.perf_counter() - started, 2),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        version=BUILD_VERSION,
    )
    return net


def graph_xy(G: nx.MultiDiGraph) -> tuple[np.ndarray, np.ndarray]:
    xs = np.array([d["x"] for _, d in G.nodes(data=True)], dtype=float)
    ys = np.array([d["y"] for _, d in G.nodes(data=True)], dtype=float)
    return xs, ys


def _osmid(node: object) -> int:
    # An OSM extract's nodes are its ids; a GraphML graph's may be text, or not ids at all.
    if not isinstance(node, int | float | str | np.number):
        return -1
    try:
        return int(node)
    except (TypeError, ValueError):
        return -1


def _to_arrays(H: nx.MultiDiGraph, mode: str) -> Network:
    nodes = list(H.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    node_xy = np.array([[H.nodes[n]["x"], H.nodes[n]["y"]] for n in nodes], dtype=float)
    us, vs, lengths, times, highways, names, parts = [], [], [], [], [], [], []
    for u, v, d in H.edges(data=True):
        iu, iv = index[u], index[v]
        us.append(iu)
        vs.append(iv)
        lengths.append(float(d["length"]))
        times.append(float(d["travel_time"]))
        highways.append(_first(d.get("highway")))
        names.append(_first(d.get("name")))
        g = d.get("geometry")
        parts.append(np.asarray(g.coords, dtype=float) if g is not None else node_xy[[iu, iv]])
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    geom_xy = np.vstack(parts) if parts else np.empty((0, 2))
    edge_u = np.array(us, dtype=np.int64)
    edge_v = np.array(vs, dtype=np.int64)
    edge_length = np.array(lengths)
    return Network(
        mode=mode,
        node_xy=node_xy,
        node_osmid=np.array([_osmid(n) for n in nodes], dtype=np.int64),
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length=edge_length,
        edge_time=np.array(times),
        edge_twin=_twins(edge_u, edge_v, edge_length),
        edge_highway=Column.of(highways),
        edge_name=Column.of(names),
        geom_xy=geom_xy,
        geom_offsets=offsets,
        metric_crs=crs.utm_crs(*node_xy.mean(axis=0)),
    )


def _twins(u: np.ndarray, v: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Pair each edge with the same road traversed the other way (same end nodes swapped,
    same length to the centimetre), or -1 for one-way edges.

    Among several candidates the k-th edge u→v (by index) pairs with the k-th edge v→u;
    self-loops of the same length pair up in index order. Pairs are symmetric.
    """
    e = len(u)
    twin = np.full(e, -1, dtype=np.int64)
    if not e:
        return twin
    rounded = np.round(length, 2)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    orient = np.where(u < v, 0, np.where(u > v, 1, 2))
    order = np.lexsort((np.arange(e), orient, rounded, hi, lo))
    lo, hi, rounded, orient = lo[order], hi[order], rounded[order], orient[order]
    step = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1]) | (rounded[1:] != rounded[:-1])
    group = np.concatenate([[0], np.cumsum(step)])
    sub_start = np.flatnonzero(np.concatenate([[True], step | (orient[1:] != orient[:-1])]))
    rank = np.arange(e) - np.repeat(sub_start, np.diff(np.append(sub_start, e)))
    # u→v with v→u, rank by rank.
    a = np.flatnonzero(orient == 0)
    b = np.flatnonzero(orient == 1)
    if len(a) and len(b):
        ka = group[a] * e + rank[a]
        kb = group[b] * e + rank[b]  # sorted: by group, then rank
        pos = np.clip(np.searchsorted(kb, ka), 0, len(kb) - 1)
        hit = kb[pos] == ka
        ia, ib = order[a[hit]], order[b[pos[hit]]]
        twin[ia], twin[ib] = ib, ia
    # Self-loops: ranks 2k and 2k + 1 of the same group.
    p = np.flatnonzero((orient == 2) & (rank % 2 == 0))
    p = p[p + 1 < e]
    p = p[(orient[p + 1] == 2) & (group[p + 1] == group[p])]
    twin[order[p]], twin[order[p + 1]] = order[p + 1], order[p]
    return twin
