"""Coverage polygons: the reached road pieces buffered and dissolved tile by tile.

Polygons are never hulls, so no polygon claims water or a valley no road joins. Dissolving
is the expensive part, so it is done per cell (one town's roads around a 1 km tile), clipped
to the tile, cached under a fingerprint of its inputs and run on a small thread pool (GEOS
releases the GIL); see the comment below for the details.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import shapely

from geoservice.coverage.roads import interpolate

if TYPE_CHECKING:
    from geoservice.coverage.engine import ModeCache
    from geoservice.coverage.envelope import Pieces
    from geoservice.coverage.places import Places
    from geoservice.coverage.result import Coverage
    from geoservice.coverage.roads import Roads

#: Roads are grouped into clusters of this size (m) whose dissolved buffers are cached.
_CLUSTER_M = 250.0
#: Coarse clusters are this many fine cells across (1 km).
_COARSE = 4
#: Lines are simplified by this much (m) before buffering (display geometry only).
_SIMPLIFY_M = 1.0
_QUAD_SEGS = 3
#: Threads dissolving polygons (GEOS runs without the GIL).
_WORKERS = max(1, min(4, os.cpu_count() or 1))

# -- polygons -------------------------------------------------------------------------------
#
# A coverage area is the union of the reached road pieces buffered by ``buffer_m``. It is
# assembled per *cell* — one town's roads around one square tile of `_TILE_M` — and each
# cell's polygon is clipped to its tile. Tiles never overlap, so town and district areas
# are sums over tiles (no district-wide dissolve), and a station edit redoes only the
# cells whose inputs changed. A cell's inputs are the *clusters* whose roads come near its
# tile (one town's roads whose midpoints share a 250 m cell): a cluster reached whole
# brings its dissolved buffer, made once since it does not depend on the stations, a
# cluster reached in part brings the buffers of its reached pieces. Cell polygons are
# cached under a 64-bit fingerprint of their inputs, so what one query has dissolved
# serves the next (another edit elsewhere, another threshold).

#: Side (m) of the square tiles polygons are assembled in and clipped to.
_TILE_M = 1000.0
#: Tile pieces are snapped to this grid (m) before the display polygon is dissolved, so
#: that the edges of neighbouring tiles match exactly (areas are summed before snapping).
_GRID_M = 1e-3
#: Cached cell polygons are evicted, least recently used first, above this many vertices.
_CACHE_COORDS = 3_000_000
#: Buffer sizes whose tables are kept per mode.
_MAX_TILINGS = 4
#: Positions along a road are fingerprinted to 1e-9 of its length: Dijkstra's summation
#: order may differ by an ulp between runs without anything having changed.
_QUANTUM = 1e9
_SEED_CLUSTER = np.uint64(0x5DEECE66D)
_SEED_PIECE = np.uint64(0x2545F4914F6CDD1D)
_SEED_TILE = np.uint64(0x9E3779B97F4A7C15)
_SEED_UNION = np.uint64(0xD1B54A32D192ED03)
_EMPTY = shapely.Polygon()
_NONE = np.array(None, dtype=object)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised: 64-bit integers to well-spread fingerprints."""
    x = np.asarray(x).astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(lo[i], hi[i])``."""
    n = hi - lo
    return np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def thread_pool() -> ThreadPoolExecutor:
    """The threads polygons are dissolved in (GEOS releases the GIL), made once."""
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="coverage")
    return _POOL


def _forget_pool() -> None:
    # A forked child (a job's process) has the pool but none of its threads: work handed to
    # it would wait for ever. The child makes its own on first use.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _chunks(n: int, pool: ThreadPoolExecutor, job: Callable[[range], None]) -> None:
    """Run ``job(range)`` over ``range(n)`` in a few chunks on ``pool`` (GEOS releases the
    GIL: chunks run in parallel)."""
    if n == 0:
        return
    size = max(1, math.ceil(n / (4 * _WORKERS)))
    list(pool.map(job, [range(i, min(n, i + size)) for i in range(0, n, size)]))


class _Poly:
    """A cached polygon with its area (m²) and, once asked for, its snapped copy."""

    __slots__ = ("area", "poly", "snapped")

    def __init__(self, poly: shapely.Geometry) -> None:
        self.poly = poly
        self.area = float(shapely.area(poly))
        self.snapped: shapely.Geometry | None = None

    def snap(self) -> shapely.Geometry:
        if self.snapped is None:
            self.snapped = shapely.set_precision(self.poly, _GRID_M)
        return self.snapped


class Clusters(NamedTuple):
    """The roads grouped by town and 250 m cell of their midpoint (clusters 0…F-1)."""

    of_road: np.ndarray  # (R,) cluster of each road
    town: np.ndarray  # (F,) town of each cluster
    order: np.ndarray  # (R,) roads ordered by cluster
    start: np.ndarray  # (F + 1,) each cluster's run in `order`

    @classmethod
    def build(cls, roads: Roads, places: Places) -> Clusters:
        fx = np.floor(roads.mid[:, 0] / _CLUSTER_M).astype(np.int64)
        fy = np.floor(roads.mid[:, 1] / _CLUSTER_M).astype(np.int64)
        keys, cluster = np.unique(
            np.column_stack([fx, fy, places.road_town]), axis=0, return_inverse=True
        )
        of_road = cluster.ravel()
        order = np.argsort(of_road, kind="stable")
        start = np.searchsorted(of_road[order], np.arange(len(keys) + 1))
        return cls(of_road, keys[:, 2].copy(), order, start)


@dataclass
class Tiling:
    """The stations-independent tables of the tiled polygons of one mode and buffer.

    Cells are (tile, town) pairs; an *incidence* is a cluster whose buffered roads may
    reach into a cell's tile (by bounding box), ordered by cell. Each cluster's buffer
    clipped to each of its tiles (`clipped`) and each cell's polygon with every cluster
    reached (`whole`) are made once, when first needed.
    """

    buffer_m: float
    origin: tuple[float, float]
    ny: int  # tile rows: tile = column * ny + row
    n_town: int  # towns + 1 (unassigned): cell code = tile * n_town + town
    cell_code: np.ndarray  # (G,) ascending
    cell_start: np.ndarray  # (G + 1,) each cell's incidences
    cell_hash: np.ndarray  # (G,) uint64 fingerprint of the cell's tile
    inc_cluster: np.ndarray  # (I,)
    inc_hash: np.ndarray  # (I,) uint64 fingerprint of the cluster
    inc_order: np.ndarray  # (I,) incidences ordered by cluster
    cluster_inc: np.ndarray  # (F + 1,) each cluster's run in inc_order
    clipped: np.ndarray  # (I,) object
    whole: np.ndarray  # (G,) object: _Poly
    polys: OrderedDict = field(default_factory=OrderedDict)  # fingerprint → _Poly
    coords: int = 0  # vertices held in `polys`

    @classmethod
    def build(cls, cache: ModeCache, buffer_m: float) -> Tiling:
        cl = cache.clusters
        starts = cl.start[:-1]
        b = cache.roads.bounds[cl.order]
        margin = buffer_m + 1.0
        bounds = np.column_stack(
            [
                np.minimum.reduceat(b[:, 0], starts) - margin,
                np.minimum.reduceat(b[:, 1], starts) - margin,
                np.maximum.reduceat(b[:, 2], starts) + margin,
                np.maximum.reduceat(b[:, 3], starts) + margin,
            ]
        )
        # Tile edges on round coordinates, one empty tile around everything.
        ox = (math.floor(bounds[:, 0].min() / _TILE_M) - 1) * _TILE_M
        oy = (math.floor(bounds[:, 1].min() / _TILE_M) - 1) * _TILE_M
        ny = math.ceil((bounds[:, 3].max() - oy) / _TILE_M) + 2
        n_town = len(cache.places.towns) + 1
        f, tile = _tiles_of(bounds, (ox, oy), ny)
        code = tile * n_town + cl.town[f]
        order = np.lexsort((f, code))
        f, code = f[order], code[order]
        cells, inc_cell = np.unique(code, return_inverse=True)
        inc_order = np.argsort(f, kind="stable")
        return cls(
            buffer_m=buffer_m,
            origin=(ox, oy),
            ny=ny,
            n_town=n_town,
            cell_code=cells,
            cell_start=np.searchsorted(inc_cell.ravel(), np.arange(len(cells) + 1)),
            cell_hash=_mix(_mix(cells // n_town) ^ _SEED_TILE),
            inc_cluster=f,
            inc_hash=_mix(_mix(f) ^ _SEED_CLUSTER),
            inc_order=inc_order,
            cluster_inc=np.searchsorted(f[inc_order], np.arange(len(cl.town) + 1)),
            clipped=np.full(len(f), None, dtype=object),
            whole=np.full(len(cells), None, dtype=object),
        )

    def box(self, cell: int) -> tuple[float, float, float, float]:
        tile = int(self.cell_code[cell]) // self.n_town
        x = self.origin[0] + (tile // self.ny) * _TILE_M
        y = self.origin[1] + (tile % self.ny) * _TILE_M
        return x, y, x + _TILE_M, y + _TILE_M

    def get(self, key: int) -> _Poly | None:
        hit = self.polys.get(key)
        if hit is not None:
            self.polys.move_to_end(key)
        return hit

    def put(self, key: int, poly: shapely.Geometry) -> _Poly:
        entry = _Poly(poly)
        old = self.polys.pop(key, None)
        if old is not None:
            self.coords -= int(shapely.get_num_coordinates(old.poly))
        self.polys[key] = entry
        self.coords += int(shapely.get_num_coordinates(poly))
        return entry

    def trim(self, keep: int) -> None:
        """Evict the least recently used polygons above `_CACHE_COORDS` (the ``keep`` most
        recent stay whatever their size: the current answer's)."""
        while self.coords > _CACHE_COORDS and len(self.polys) > keep:
            _, entry = self.polys.popitem(last=False)
            self.coords -= int(shapely.get_num_coordinates(entry.poly))


def _tiles_of(
    bounds: np.ndarray, origin: tuple[float, float], ny: int
) -> tuple[np.ndarray, np.ndarray]:
    """(item, tile) pairs of every tile each bounding box (n, 4) overlaps."""
    ix0 = np.floor((bounds[:, 0] - origin[0]) / _TILE_M).astype(np.int64)
    iy0 = np.floor((bounds[:, 1] - origin[1]) / _TILE_M).astype(np.int64)
    ix1 = np.floor((bounds[:, 2] - origin[0]) / _TILE_M).astype(np.int64)
    iy1 = np.floor((bounds[:, 3] - origin[1]) / _TILE_M).astype(np.int64)
    w = ix1 - ix0 + 1
    counts = w * (iy1 - iy0 + 1)
    item = np.repeat(np.arange(len(bounds)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return item, (ix0[item] + k % w[item]) * ny + iy0[item] + k // w[item]


def get_tiling(cache: ModeCache, buffer_m: float) -> Tiling:
    """The tiling of ``cache``'s roads for ``buffer_m`` (built once per buffer size)."""
    tiling = cache.tilings.get(buffer_m)
    if tiling is None:
        tiling = cache.tilings[buffer_m] = Tiling.build(cache, buffer_m)
        while len(cache.tilings) > _MAX_TILINGS:
            cache.tilings.pop(next(iter(cache.tilings)))
    return tiling


def _missing(objects: np.ndarray) -> np.ndarray:
    """Which entries of an object array are not made yet (None)."""
    # None as a 0-d object array: numpy's stubs take no bare None here (numpy does).
    return np.equal(objects, _NONE)


def _polygonal(geoms: shapely.Geometry | np.ndarray) -> np.ndarray:
    """The polygons of clipped geometries (clipping may leave lines along a tile edge)."""
    parts = shapely.get_parts(geoms)
    return parts[shapely.get_type_id(parts) == 3]


def _merge(parts: list | np.ndarray) -> shapely.Geometry:
    if len(parts) == 0:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return shapely.union_all(parts)


def _buffers(
    roads: Roads, r: np.ndarray, g0: np.ndarray, g1: np.ndarray, buffer_m: float
) -> np.ndarray:
    """Buffered road pieces (display geometry: lines simplified by `_SIMPLIFY_M` first)."""
    lines = shapely.simplify(roads.cut(r, g0, g1), _SIMPLIFY_M)
    return shapely.buffer(lines, buffer_m, quad_segs=_QUAD_SEGS)


def _clip_clusters(
    cache: ModeCache, tiling: Tiling, incidences: np.ndarray, pool: ThreadPoolExecutor
) -> None:
    """Make the clipped buffers of the clusters of ``incidences``: each cluster's buffers
    are dissolved once and clipped to every tile the cluster touches."""
    todo = incidences[_missing(tiling.clipped[incidences])]
    if not len(todo):
        return
    clusters = np.unique(tiling.inc_cluster[todo])
    cl = cache.clusters
    lo, hi = cl.start[clusters], cl.start[clusters + 1]
    members = cl.order[_ranges(lo, hi)]
    ones = np.ones(len(members))
    bufs = _buffers(cache.roads, members, 0 * ones, ones, tiling.buffer_m)
    at = np.r_[0, np.cumsum(hi - lo)]
    inc_cell = np.searchsorted(tiling.cell_start, np.arange(len(tiling.inc_cluster)), "right") - 1

    def job(chunk: range) -> None:
        for i in chunk:
            union = _merge(bufs[at[i] : at[i + 1]])
            f = clusters[i]
            for inc in tiling.inc_order[tiling.cluster_inc[f] : tiling.cluster_inc[f + 1]]:
                box = tiling.box(inc_cell[inc])
                tiling.clipped[inc] = _merge(_polygonal(shapely.clip_by_rect(union, *box)))

    _chunks(len(clusters), pool, job)


def whole_cells(
    cache: ModeCache, tiling: Tiling, cells: np.ndarray, pool: ThreadPoolExecutor
) -> None:
    """Make the polygons of ``cells`` with every cluster reached."""
    cells = cells[_missing(tiling.whole[cells])]
    if not len(cells):
        return
    lo, hi = tiling.cell_start[cells], tiling.cell_start[cells + 1]
    _clip_clusters(cache, tiling, _ranges(lo, hi), pool)

    def job(chunk: range) -> None:
        for i in chunk:
            tiling.whole[cells[i]] = _Poly(_merge(list(tiling.clipped[lo[i] : hi[i]])))

    _chunks(len(cells), pool, job)


def _piece_bounds(roads: Roads, r: np.ndarray, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
    """Bounding boxes (n, 4) of the road pieces ``r`` from ``g0`` to ``g1``."""
    p0 = interpolate(roads.xy, roads.offsets, roads.vkey, r, g0)
    p1 = interpolate(roads.xy, roads.offsets, roads.vkey, r, g1)
    out = np.column_stack([np.minimum(p0, p1), np.maximum(p0, p1)])
    # And the road's vertices strictly inside the piece.
    lo = np.searchsorted(roads.vkey, 2.0 * r + g0, side="right")
    hi = np.searchsorted(roads.vkey, 2.0 * r + g1, side="left")
    inner = np.flatnonzero(hi > lo)
    if len(inner):
        idx = np.column_stack([lo[inner], hi[inner]]).ravel()
        for axis in (0, 1):
            coord = roads.xy[:, axis]
            low = np.minimum.reduceat(coord, idx)[::2]
            high = np.maximum.reduceat(coord, idx)[::2]
            out[inner, axis] = np.minimum(out[inner, axis], low)
            out[inner, axis + 2] = np.maximum(out[inner, axis + 2], high)
    return out


@dataclass
class _Tiled:
    """The polygons of one computation: per level, the district's tile pieces, the
    district's area and the area per town (m²)."""

    tiles: list[list[_Poly]]
    district: list[float]
    towns: list[dict[int, float]]


def tiled_areas(
    cache: ModeCache, tiling: Tiling, pieces: Pieces, lvl: np.ndarray, K: int
) -> _Tiled:
    """The buffered roads reached at each level (``lvl <= k`` for ``k < K``), tile by tile.

    A cell's polygon at level k is its polygon at level k-1 united with what level k adds
    (clusters reached whole at k, pieces reached at k of clusters not whole at k), clipped
    to its tile. Its fingerprint chains its tile's, then at each level the sum of what the
    level adds: equal fingerprints mean the same computation, so a cached polygon is the
    very one a fresh computation would make (publishing stays byte-for-byte repeatable).
    A tile shared by towns is the union of its cells.
    """
    cl = cache.clusters
    inp = _inputs(cache, tiling, _whole_levels(cl, cache.roads.n, pieces, lvl, K), pieces, lvl, K)
    if len(inp.cells) == 0:
        return _Tiled(tiles=[[] for _ in range(K)], district=[0.0] * K, towns=[{}] * K)
    key, filled, whole = _fingerprints(tiling, inp, K)
    keys = key.tolist()
    entries, todo = _look_up(tiling, keys, filled & ~whole)
    pool = thread_pool()
    need = np.flatnonzero(whole.any(axis=1))
    whole_cells(cache, tiling, inp.cells[need], pool)
    for i, k in zip(*np.nonzero(whole), strict=True):
        entries[i][k] = tiling.whole[inp.cells[i]]
    made = _make_cells(cache, tiling, inp, todo, entries, filled, pool)
    for (i, k), poly in made.items():
        entries[i][k] = tiling.put(keys[i][k], poly)
    out = _tile_pieces(tiling, inp.cells, key, filled, entries, pool)
    towns = _town_areas(tiling, inp.cells, entries, K)
    tiling.trim(keep=sum(len(x) for x in out) + len(made))
    return _Tiled(tiles=out, district=[sum(x.area for x in lv) for lv in out], towns=towns)


def _whole_levels(
    cl: Clusters, n_roads: int, pieces: Pieces, lvl: np.ndarray, K: int
) -> np.ndarray:
    """The level at which each cluster is reached whole (K: never)."""
    road_lvl = np.full(n_roads, K, dtype=np.int64)
    if len(pieces.r):
        first = np.flatnonzero(np.r_[True, pieces.r[1:] != pieces.r[:-1]])
        road_lvl[pieces.r[first]] = np.maximum.reduceat(np.minimum(lvl, K), first)
    return np.maximum.reduceat(road_lvl[cl.order], cl.start[:-1])


@dataclass
class _Inputs:
    """The inputs of one computation's cells, each with its cell (as an index into
    ``cells``, the cells with any input) and the level from which it counts: the
    incidences ``inc`` of clusters reached whole, and road pieces (road ``rr`` from ``a``
    to ``b``), piece ``item[j]`` in every cell its buffer's bounding box overlaps."""

    cells: np.ndarray  # (n,) cells of the tiling, ascending
    inc: np.ndarray  # (C,) incidences
    c_loc: np.ndarray  # (C,) their cell in `cells`
    c_lo: np.ndarray  # (C,) their level
    rr: np.ndarray  # (P,) merged pieces
    a: np.ndarray
    b: np.ndarray
    item: np.ndarray  # (J,) piece of each (piece, cell) pair
    p_loc: np.ndarray  # (J,) its cell in `cells`
    p_lo: np.ndarray  # (J,) its level
    p_hash: np.ndarray  # (J,) uint64 fingerprint of the piece


def _inputs(
    cache: ModeCache,
    tiling: Tiling,
    cl_lvl: np.ndarray,
    pieces: Pieces,
    lvl: np.ndarray,
    K: int,
) -> _Inputs:
    """Every input's cell, level and fingerprint: clusters reached whole at ``cl_lvl``,
    and the pieces of the others."""
    roads, cl = cache.roads, cache.clusters
    # Pieces count where their cluster is not whole yet; consecutive pieces of a road at
    # the same level are merged.
    sel = (lvl < K) & (cl_lvl[cl.of_road[pieces.r]] > lvl)
    p, pl = pieces.take(sel), lvl[sel]
    brk = np.ones(len(p.r), dtype=bool)
    brk[1:] = (p.r[1:] != p.r[:-1]) | (p.g0[1:] != p.g1[:-1]) | (pl[1:] != pl[:-1])
    head = np.flatnonzero(brk)
    tail = (np.r_[head[1:], len(p.r)] - 1)[: len(head)].astype(np.int64)
    rr, a, b, rl = p.r[head], p.g0[head], p.g1[tail], pl[head]
    # Clusters reached whole, ...
    inc = np.flatnonzero(cl_lvl[tiling.inc_cluster] < K)
    c_cell = np.searchsorted(tiling.cell_start, inc, side="right") - 1
    # ... and pieces, in every tile their buffer's bounding box overlaps.
    margin = tiling.buffer_m + 0.5
    pb = _piece_bounds(roads, rr, a, b) + np.array([-margin, -margin, margin, margin])
    item, tile = _tiles_of(pb, tiling.origin, tiling.ny)
    road_town = cache.places.road_town
    p_cell = np.searchsorted(tiling.cell_code, tile * tiling.n_town + road_town[rr[item]])
    h = _mix(_mix(rr) ^ _SEED_PIECE)
    h = _mix(h ^ np.round(a * _QUANTUM).astype(np.int64).astype(np.uint64))
    h = _mix(h ^ np.round(b * _QUANTUM).astype(np.int64).astype(np.uint64))
    cells, local = np.unique(np.concatenate([c_cell, p_cell]), return_inverse=True)
    local = local.ravel()
    return _Inputs(
        cells=cells,
        inc=inc,
        c_loc=local[: len(inc)],
        c_lo=cl_lvl[tiling.inc_cluster[inc]],
        rr=rr,
        a=a,
        b=b,
        item=item,
        p_loc=local[len(inc) :],
        p_lo=rl[item],
        p_hash=h[item],
    )


def _fingerprints(
    tiling: Tiling, inp: _Inputs, K: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell and level (n, K): the polygon's fingerprint, whether anything is reached
    and whether every cluster is reached whole and no piece (the stations-free polygon)."""
    n = len(inp.cells)
    # Fingerprints and input counts per cell and level (what each level adds, then running
    # sums: a level's polygon holds every lower level's, even the pieces of a cluster
    # reached whole since, whose buffers may stand out of the cluster's by a few dm).
    acc = np.zeros((n, K), dtype=np.uint64)
    np.add.at(acc, (inp.c_loc, inp.c_lo), tiling.inc_hash[inp.inc])
    np.add.at(acc, (inp.p_loc, inp.p_lo), inp.p_hash)
    n_cl = np.zeros((n, K), dtype=np.int64)
    np.add.at(n_cl, (inp.c_loc, inp.c_lo), 1)
    n_p = np.zeros((n, K), dtype=np.int64)
    np.add.at(n_p, (inp.p_loc, inp.p_lo), 1)
    added = (n_cl + n_p) > 0
    key = np.empty((n, K), dtype=np.uint64)
    prev = tiling.cell_hash[inp.cells]
    for k in range(K):
        # A level that adds nothing keeps the previous level's polygon and fingerprint.
        prev = key[:, k] = np.where(added[:, k], _mix(prev + acc[:, k]), prev)
    n_cl, n_p = np.cumsum(n_cl, axis=1), np.cumsum(n_p, axis=1)
    filled = (n_cl + n_p) > 0
    whole = (n_cl == np.diff(tiling.cell_start)[inp.cells][:, None]) & (n_p == 0)
    return key, filled, whole


def _look_up(
    tiling: Tiling, keys: list[list[int]], wanted: np.ndarray
) -> tuple[list[list[_Poly | None]], np.ndarray]:
    """The cached polygons of the ``wanted`` cells and levels (the others None), and the
    cells with any wanted level not cached."""
    entries: list[list[_Poly | None]] = [[None] * wanted.shape[1] for _ in range(len(keys))]
    todo = []
    for i, k in zip(*np.nonzero(wanted), strict=True):
        hit = tiling.get(keys[i][k])
        if hit is None:
            todo.append(i)
        else:
            entries[i][k] = hit
    return entries, np.unique(np.array(todo, dtype=np.int64))


def _make_cells(
    cache: ModeCache,
    tiling: Tiling,
    inp: _Inputs,
    todo: np.ndarray,
    entries: list[list[_Poly | None]],
    filled: np.ndarray,
    pool: ThreadPoolExecutor,
) -> dict[tuple[int, int], shapely.Geometry]:
    """The polygons of the levels of cells ``todo`` that are filled and not in ``entries``,
    by (cell, level)."""
    K = filled.shape[1]
    # The new inputs of the cells to make, level by level.
    groups = (todo[:, None] * (K + 1) + np.arange(K)).ravel()
    c_group = inp.c_loc * (K + 1) + inp.c_lo
    bounds = np.concatenate([groups, groups + 1])
    c_order = np.argsort(c_group, kind="stable")
    c_at = np.searchsorted(c_group[c_order], bounds)
    p_group = inp.p_loc * (K + 1) + inp.p_lo
    p_order = np.argsort(p_group, kind="stable")
    p_at = np.searchsorted(p_group[p_order], bounds)
    m = len(groups)
    c_need = c_order[_ranges(c_at[:m], c_at[m:])]
    _clip_clusters(cache, tiling, inp.inc[c_need], pool)
    p_need = np.unique(inp.item[p_order[_ranges(p_at[:m], p_at[m:])]])
    bufs = np.full(len(inp.rr), None, dtype=object)
    if len(p_need):
        r, a, b = inp.rr[p_need], inp.a[p_need], inp.b[p_need]
        bufs[p_need] = _buffers(cache.roads, r, a, b, tiling.buffer_m)
    made: dict[tuple[int, int], shapely.Geometry] = {}

    def job(chunk: range) -> None:
        for t in chunk:
            i = int(todo[t])
            box = tiling.box(inp.cells[i])
            prev = _EMPTY
            for k in range(K):
                entry = entries[i][k]
                if entry is not None:
                    prev = entry.poly
                    continue
                if not filled[i, k]:
                    continue
                g = t * K + k
                parts = list(tiling.clipped[inp.inc[c_order[c_at[g] : c_at[m + g]]]])
                ps = inp.item[p_order[p_at[g] : p_at[m + g]]]
                if len(ps):
                    parts += list(_polygonal(shapely.clip_by_rect(bufs[ps], *box)))
                poly = _merge([x for x in parts if not x.is_empty])
                if not prev.is_empty:
                    # One overlay with the (larger) previous level, not one per part.
                    poly = shapely.union(prev, poly) if not poly.is_empty else prev
                prev = made[(i, k)] = poly

    _chunks(len(todo), pool, job)
    return made


def _tile_pieces(
    tiling: Tiling,
    cells: np.ndarray,
    key: np.ndarray,
    filled: np.ndarray,
    entries: list[list[_Poly | None]],
    pool: ThreadPoolExecutor,
) -> list[list[_Poly]]:
    """Per level, the polygon of every tile with anything reached, in tile order. Most
    tiles hold one town's cell; a shared tile is the union of its cells."""
    K = key.shape[1]
    tiles = tiling.cell_code[cells] // tiling.n_town
    first = np.flatnonzero(np.r_[True, tiles[1:] != tiles[:-1]])
    last = np.r_[first[1:], len(cells)]
    shared_key = _mix(np.add.reduceat(_mix(key ^ _SEED_UNION) * filled, first, axis=0))
    # In tile order whatever was cached: the dissolved polygon's bytes depend on it.
    out: list[list[_Poly]] = [[] for _ in range(K)]
    unions: list[tuple[int, int, int, list[_Poly]]] = []
    for j, (s, e) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        for k in range(K):
            polys = [x for x in (entries[i][k] for i in range(s, e)) if x is not None]
            polys = [x for x in polys if x.area > 0]
            if len(polys) == 1:
                out[k].append(polys[0])
            elif polys:
                kk = int(shared_key[j, k])
                hit = tiling.get(kk)
                if hit is None:
                    unions.append((k, len(out[k]), kk, polys))
                    hit = polys[0]  # holds the place of the union, made below
                out[k].append(hit)
    done = list(pool.map(lambda u: shapely.union_all([x.poly for x in u[3]]), unions))
    for (k, at, kk, _), poly in zip(unions, done, strict=True):
        out[k][at] = tiling.put(kk, poly)
    return out


def _town_areas(
    tiling: Tiling, cells: np.ndarray, entries: list[list[_Poly | None]], K: int
) -> list[dict[int, float]]:
    """Per level, the area (m²) reached in each town (by index)."""
    town = (tiling.cell_code[cells] % tiling.n_town).tolist()
    towns: list[dict[int, float]] = [{} for _ in range(K)]
    for i in range(len(cells)):
        for k in range(K):
            e = entries[i][k]
            if e is not None and e.area > 0:
                towns[k][town[i]] = towns[k].get(town[i], 0.0) + e.area
    return towns


def _snap(tiles: list[_Poly]) -> None:
    """Give the tiles their copies snapped to `_GRID_M` (all missing ones in one call)."""
    todo = [t for t in {id(t): t for t in tiles}.values() if t.snapped is None]
    if todo:
        snapped = shapely.set_precision(np.array([t.poly for t in todo]), _GRID_M)
        for t, g in zip(todo, snapped, strict=True):
            t.snapped = g


def dissolve(tiles: list[_Poly]) -> shapely.Geometry:
    """One polygon of non-overlapping tile pieces: their edges snapped to `_GRID_M` and
    matched (:func:`shapely.coverage_union_all`, linear time), or a full union should
    they not match (a snapped crossing of a tile edge may, rarely, round apart)."""
    if not tiles:
        return _EMPTY
    if len(tiles) == 1:
        return tiles[0].poly
    _snap(tiles)
    snapped = [t.snapped for t in tiles]
    total = sum(t.area for t in tiles)
    slack = _GRID_M * float(shapely.length(np.array(snapped)).sum())
    try:
        out = shapely.coverage_union_all(snapped)
    except shapely.errors.GEOSException:
        out = None
    if out is None or abs(out.area - total) > slack or not out.is_valid:
        out = shapely.union_all([t.poly for t in tiles])
    return out


class Areas(Mapping[int, shapely.Geometry]):
    """The coverage areas by level (index of the threshold): dissolved on first use."""

    def __init__(self, tiles: list[list[_Poly]], lock: threading.RLock) -> None:
        self._tiles = tiles
        self._lock = lock
        self._done: dict[int, shapely.Geometry] = {}

    def __getitem__(self, k: int) -> shapely.Geometry:
        if k not in self._done:
            if k not in self:
                raise KeyError(k)
            self.dissolve_all((k,))
        return self._done[k]

    def dissolve_all(self, levels: tuple[int, ...] | None = None) -> None:
        """Dissolve these levels (default: all) side by side."""
        wanted = range(len(self._tiles)) if levels is None else levels
        todo = [k for k in wanted if k not in self._done]
        if not todo:
            return
        with self._lock:  # the snapped copies live in the engine's caches
            _snap([t for k in todo for t in self._tiles[k]])
            polys = list(thread_pool().map(dissolve, [self._tiles[k] for k in todo]))
        self._done.update(zip(todo, polys, strict=True))

    def __contains__(self, k: object) -> bool:
        return isinstance(k, int) and 0 <= k < len(self._tiles)

    def __len__(self) -> int:
        return len(self._tiles)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._tiles)))


def fill_areas(cov: Coverage, tiled: _Tiled) -> None:
    """Put the polygon areas into the figures."""
    for k, row in enumerate(cov.district["thresholds"]):
        row["area_km2"] = round(tiled.district[k] / 1e6, 4)
    for t, town in enumerate(cov.towns):
        for k, row in enumerate(town["thresholds"]):
            row["area_km2"] = round(tiled.towns[k].get(t, 0.0) / 1e6, 4)
