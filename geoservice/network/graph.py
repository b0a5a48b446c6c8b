"""One travel mode's road network as arrays: the graph, its CSR matrix and snapping.

A :class:`Network` keeps numpy arrays (nodes with their OSM ids, edges, edge geometries),
a CSR matrix of travel times for :mod:`scipy.sparse.csgraph`, and the indexes that place
points on its roads (:mod:`geoservice.network.points`). It is saved as a folder of ``.npy``
files, which a load memory-maps (:meth:`Network.save`, :meth:`Network.load`).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyproj
import scipy.sparse as sp
import shapely

from geoservice.errors import NetworkError
from geoservice.i18n import N_
from geoservice.network import points
from geoservice.network.points import RoadPoints, SnapIndex

if TYPE_CHECKING:
    from geoservice.responses import NetworkSummary

log = logging.getLogger(__name__)

MODES = ("walk", "bike", "drive")
MODE_LABELS = {"walk": N_("步行"), "bike": N_("电动自行车"), "drive": N_("驾车")}

#: Road classes drawn as the offline basemap, most important first.
MAJOR_ROADS = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary_link",
)

#: The least weight of a graph's edge (seconds or metres): a zero would vanish from a
#: sparse matrix, and a search's labels count on every step costing something.
MIN_WEIGHT = 1e-6


#: The arrays of a network, each saved as its own ``.npy`` file (:meth:`Network.save`); the
#: text columns (:data:`_COLUMNS`) as two files each, their values and codes.
_ARRAYS = (
    "node_xy",
    "node_osmid",
    "edge_u",
    "edge_v",
    "edge_length",
    "edge_time",
    "edge_twin",
    "geom_xy",
    "geom_offsets",
)


_COLUMNS = ("edge_highway", "edge_name")


class Column:
    """A text column kept as codes into its distinct values: a road class or a street name
    repeats over many edges, and fixed-width text took 234 of a city network's 607 bytes
    per node. Indexing gives text, as a numpy array of text would.

    Parameters
    ----------
    values : ndarray (V,) str
        The distinct values, sorted.
    codes : ndarray (E,) unsigned int
        Each row's value.
    """

    def __init__(self, values: np.ndarray, codes: np.ndarray) -> None:
        self.values = values
        self.codes = codes

    @classmethod
    def of(cls, text: object) -> Column:
        """The column of ``text`` (any sequence of strings)."""
        values, codes = np.unique(np.asarray(text, dtype=str), return_inverse=True)
        return cls(values, codes.astype(np.min_scalar_type(max(len(values) - 1, 0))))

    def __getitem__(self, index: Any) -> np.ndarray:
        return self.values[self.codes[index]]

    def __len__(self) -> int:
        return len(self.codes)

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        out = self.values[self.codes]
        return out if dtype is None else out.astype(dtype)

    def tolist(self) -> list[str]:
        return self.values[self.codes].tolist()

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.codes.nbytes)


class _Csr(NamedTuple):
    """A network's CSR matrix of travel times, built together with its slot tables."""

    matrix: sp.csr_matrix
    #: The edge each stored entry stands for.
    edge: np.ndarray
    #: The sorted key u·n + v of each stored entry.
    key: np.ndarray


@dataclass
class Network:
    """One travel mode's road graph as arrays.

    Attributes
    ----------
    mode : str
        ``walk``, ``bike`` or ``drive``.
    node_xy : ndarray (N, 2)
        Node lon/lat (WGS84).
    node_osmid : ndarray (N,) int64
        The OSM id of every node (for comparisons and matching with OSM data).
    edge_u, edge_v : ndarray (E,)
        Edge endpoints as node indices.
    edge_length : ndarray (E,)
        Metres along the edge.
    edge_time : ndarray (E,)
        Travel time in seconds.
    edge_twin : ndarray (E,)
        Index of the same road traversed the other way, or -1 (one-way).
    edge_highway, edge_name : Column (E,) of str
        ``highway`` and ``name`` of the edge (of the first OSM way along it): given as any
        sequence of text, kept as codes (:class:`Column`).
    geom_xy, geom_offsets : ndarray
        Edge ``i``'s lon/lat polyline is ``geom_xy[geom_offsets[i]:geom_offsets[i + 1]]``.
    metric_crs : str
        Local UTM CRS used for snapping distances.
    meta : dict
        Source, schematic flag, build time and counts (for a clipped extract also
        ``dropped_refs`` and ``cut_ways``).
    """

    mode: str
    node_xy: np.ndarray
    node_osmid: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length: np.ndarray
    edge_time: np.ndarray
    edge_twin: np.ndarray
    edge_highway: Column
    edge_name: Column
    geom_xy: np.ndarray
    geom_offsets: np.ndarray
    metric_crs: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _COLUMNS:
            if not isinstance(getattr(self, name), Column):
                setattr(self, name, Column.of(getattr(self, name)))
        self._csr: _Csr | None = None
        self._reverse: sp.csr_matrix | None = None
        self._index: SnapIndex | None = None
        self._road_edges: np.ndarray | None = None
        self._roads: dict | None = None
        self._to_metric = pyproj.Transformer.from_crs("EPSG:4326", self.metric_crs, always_xy=True)
        # One network is shared by the routing, tour and coverage engines, which may build
        # its lazy indexes from several request threads at once.
        self._build_lock = threading.Lock()

    # -- sizes --------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    @property
    def schematic(self) -> bool:
        return bool(self.meta.get("schematic"))

    def describe(self) -> NetworkSummary:
        """JSON-ready summary (the ``network`` object of API answers)."""
        return {
            "mode": self.mode,
            "mode_label": MODE_LABELS[self.mode],
            "schematic": self.schematic,
            "source": self.meta.get("source", ""),
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            # 路网不在本区范围内: an extract from elsewhere, kept whole (NetworkLibrary).
            "outside_district": bool(self.meta.get("outside_district", False)),
        }

    # -- routing structures -------------------------------------------------------------
    def matrix(self) -> sp.csr_matrix:
        """CSR matrix of travel times (parallel edges reduced to the fastest)."""
        return self._csr_tables().matrix

    def reverse_matrix(self) -> sp.csr_matrix:
        """The CSR matrix of the reversed graph (row ``v`` lists the edges into ``v``),
        for searches towards stations; built on first use."""
        if self._reverse is None:
            with self._build_lock:
                if self._reverse is None:
                    self._reverse = self.matrix().T.tocsr()
        return self._reverse

    def csr_edge(self) -> np.ndarray:
        """For every stored CSR entry, the index of the edge it stands for."""
        return self._csr_tables().edge

    def _csr_tables(self) -> _Csr:
        if self._csr is None:
            self._csr = self._build_matrix()
        return self._csr

    def _build_matrix(self) -> _Csr:
        n = self.n_nodes
        m, keep = sparse_graph(self.edge_u, self.edge_v, self.edge_time, n)
        # Map each CSR slot back to its edge: keep is sorted by (u, v) like the CSR layout,
        # so the keys u·n + v are sorted too and one searchsorted finds any (u, v) slot.
        key = self.edge_u[keep].astype(np.int64) * n + self.edge_v[keep]
        return _Csr(m, keep.astype(np.int64), key)

    def edge_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Indices of the fastest edges a[i] → b[i] (one vectorised lookup; every pair
        must be joined by an edge, as consecutive nodes of a shortest path are)."""
        csr = self._csr_tables()
        keys = np.asarray(a, dtype=np.int64) * self.n_nodes + np.asarray(b, dtype=np.int64)
        return csr.edge[np.searchsorted(csr.key, keys)]

    # -- snapping -----------------------------------------------------------------------
    def to_metric(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project lon/lat to the network's metric CRS."""
        return self._to_metric.transform(lon, lat)

    def road_edges(self) -> np.ndarray:
        """Each road once: the representative edge of every two-way road (the lower index
        of its twin pair) and every one-way edge, ascending. Points lie on these
        (:meth:`snap`), coverage's road tables are these, the basemap draws these."""
        if self._road_edges is None:
            ids = np.arange(self.n_edges)
            self._road_edges = ids[(self.edge_twin < 0) | (ids < self.edge_twin)]
        return self._road_edges

    def nbytes(self, *, index: bool = True) -> int:
        """Bytes of the network's arrays, and of its snapping index unless ``index`` is
        False (mapped files are shared by the processes of a host, but resident in each
        while it answers)."""
        arrays = sum(getattr(self, name).nbytes for name in (*_ARRAYS, *_COLUMNS))
        return int(arrays + (self.snap_index().nbytes() if index else 0))

    def snap_index(self) -> SnapIndex:
        """The snapping index (:class:`~geoservice.network.points.SnapIndex`): mapped
        from the network's folder when it was loaded from one, else built on first use."""
        if self._index is None:
            with self._build_lock:
                if self._index is None:
                    self._index = SnapIndex.build(self)
        return self._index

    def snap(
        self, lon: object, lat: object, *, with_points: bool = True, cache: bool = False
    ) -> RoadPoints:
        """Place points on their nearest road (see :func:`geoservice.network.points.snap`).

        Returns
        -------
        RoadPoints
            Per point the road's representative edge, the fraction along it, the distance
            in metres (great-circle for points far from the network) and, unless
            ``with_points=False``, the snapped lon/lat.
        """
        return points.snap(self, lon, lat, with_points=with_points, cache=cache)

    def points_at(self, edge: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """Lon/lat (P, 2) at fraction ``frac`` (by length) along each edge's polyline."""
        from geoservice.network import compiled  # numba, imported on first use

        return compiled.points_at(
            self.geom_xy,
            self.geom_offsets,
            np.asarray(edge, dtype=np.int64),
            np.asarray(frac, dtype=float),
        )

    def route(
        self,
        nodes: np.ndarray,
        via: int,
        origin: tuple[int, float, float, float],
        station: tuple[int, float],
    ) -> tuple[np.ndarray, float]:
        """A route's polyline (lon/lat) from an origin on the roads to where a station
        meets its road, through the road ``nodes`` (from ``via``), and its road length in
        metres (see :func:`geoservice.network.compiled.route`)."""
        from geoservice.network import compiled

        csr = self._csr_tables()
        graph = (self.edge_u, self.edge_v, self.edge_length, self.geom_xy, self.geom_offsets)
        return compiled.route(
            (*graph, self.n_nodes), (csr.key, csr.edge), nodes, via, origin, station
        )

    def edge_coords(self, i: int) -> np.ndarray:
        """Lon/lat polyline of edge ``i``."""
        return self.geom_xy[self.geom_offsets[i] : self.geom_offsets[i + 1]]

    # -- display ------------------------------------------------------------------------
    def major_roads(self, tolerance_m: float = 8.0) -> dict:
        """Major roads (tertiary and above) as a light GeoJSON FeatureCollection, one
        simplified MultiLineString per road class, for drawing a basemap offline.

        Each two-way road is drawn once; vertices closer than ``tolerance_m`` to the line
        are dropped and coordinates rounded to 1e-5° (≈1 m).
        """
        if self._roads is not None:
            return self._roads
        features = []
        tol = tolerance_m / 111_000  # degrees; fine at Miyun's latitude for display
        for cls in MAJOR_ROADS:
            edges = self.road_edges()[self.edge_highway[self.road_edges()] == cls]
            if not len(edges):
                continue
            lines = [
                np.round(
                    shapely.get_coordinates(
                        shapely.simplify(shapely.linestrings(self.edge_coords(int(e))), tol)
                    ),
                    5,
                ).tolist()
                for e in edges
            ]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"highway": cls},
                    "geometry": {"type": "MultiLineString", "coordinates": lines},
                }
            )
        self._roads = {
            "type": "FeatureCollection",
            "schematic": self.schematic,
            "features": features,
        }
        return self._roads

    # -- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the arrays (one ``.npy`` file each), the snapping index's and the metadata
        (``meta.json``) into the folder ``path``, atomically: a folder is written beside it
        and renamed.

        ``.npy`` files, not one ``.npz``, because they can be memory-mapped
        (:meth:`load`): every process serving the network shares one copy in the page
        cache, and a start maps the files instead of reading them.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(path)
        tmp.mkdir()
        try:
            for name in _ARRAYS:
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
            for name in _COLUMNS:
                column = getattr(self, name)
                np.save(tmp / f"{name}.values.npy", column.values)
                np.save(tmp / f"{name}.codes.npy", column.codes)
            self.snap_index().save(tmp)
            meta = {**self.meta, "mode": self.mode, "crs": self.metric_crs}
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
            if path.exists():  # an unreadable copy (load refused it): replaced
                shutil.rmtree(path, ignore_errors=True)
            try:
                tmp.rename(path)
            except OSError:  # another process wrote the same network first: keep theirs
                if not path.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> Network:
        """Map a network written by :meth:`save` (read-only arrays); raise
        :class:`NetworkError` if it is unusable."""
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text())
            arrays: dict[str, Any] = {
                name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in _ARRAYS
            }
            for name in _COLUMNS:
                arrays[name] = Column(
                    np.load(path / f"{name}.values.npy", allow_pickle=False),
                    np.load(path / f"{name}.codes.npy", mmap_mode="r", allow_pickle=False),
                )
        except Exception as exc:  # OSError, ValueError (a bad header), JSON...
            msg = f"network cache {path} is unreadable: {exc}"
            raise NetworkError(msg) from exc
        mode, crs = meta.pop("mode", None), meta.pop("crs", None)
        if mode not in MODES or not crs:
            msg = f"network cache {path} has no valid mode/crs"
            raise NetworkError(msg)
        net = cls(mode=mode, metric_crs=crs, meta=meta, **arrays)
        net._validate()
        try:
            net._index = SnapIndex.load(net, path)
        except (OSError, ValueError) as exc:
            msg = f"network cache {path} has an unreadable snapping index: {exc}"
            raise NetworkError(msg) from exc
        return net

    def _validate(self) -> None:
        n, e = self.n_nodes, self.n_edges
        ok = (
            self.node_xy.shape == (n, 2)
            and len(self.node_osmid) == n
            and all(len(a) == e for a in (self.edge_v, self.edge_length, self.edge_time))
            and len(self.geom_offsets) == e + 1
            and (e == 0 or (self.edge_u.max() < n and self.edge_v.max() < n))
            and self.geom_offsets[-1] == len(self.geom_xy)
        )
        if not ok:
            msg = "network arrays are inconsistent (corrupt cache?)"
            raise NetworkError(msg)


def sub_coords(coords: np.ndarray, f0: float, f1: float) -> np.ndarray:
    """The part of a polyline between fractions ``f0 <= f1`` of its length."""
    from geoservice.network import compiled

    return compiled.sub_line(np.ascontiguousarray(coords, dtype=float), f0, f1)


def tmp_name(path: Path, suffix: str = "") -> Path:
    """A temporary file or folder beside ``path``, unique per writer: two threads or
    processes building the same cache at once (the routing and the coverage engine on a
    cold cache) each write their own, with the same content."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{suffix}")


def sparse_graph(
    rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, n: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The CSR matrix (N × N, indices sorted) of edges ``rows → cols``: the lightest of
    parallel edges, every weight at least :data:`MIN_WEIGHT`. Returns it and the edges
    kept (:func:`lightest`)."""
    keep = lightest(rows, cols, weight)
    # Zero weights would vanish from a sparse matrix; give them a tiny one.
    data = np.maximum(weight[keep], MIN_WEIGHT)
    m = sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(n, n))
    m.sort_indices()
    return m, keep


def lightest(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Indices of the lightest entry of every (row, col) pair (the first on a tie), in
    (row, col) order: how a graph keeps the fastest of parallel edges in a sparse matrix."""
    order = np.lexsort((weight, cols, rows))
    r, c = rows[order], cols[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return order[first]
