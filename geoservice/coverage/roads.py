"""The static road tables of one network: each two-way road once, with its reversed and
undirected graphs and metric polylines, and cutting and interpolating along roads.

A position on a road is its road index ``r`` and a fraction ``g`` of its length from the
road's ``u`` end. The roads are the network's representative edges
(:meth:`~geoservice.network.Network.road_edges`), which snapped points lie on: a point's edge
fraction is its ``g``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import scipy.sparse as sp
import shapely

from geoservice.network import Network, RoadPoints
from geoservice.network.graph import sparse_graph


@dataclass
class Roads:
    """One network's roads (each two-way road once) and everything static about them."""

    edge: np.ndarray  # (R,) representative edge
    u: np.ndarray
    v: np.ndarray
    tf: np.ndarray  # seconds u → v
    tb: np.ndarray  # seconds v → u (inf: one-way)
    lf: np.ndarray  # metres u → v (the road's length)
    lb: np.ndarray  # metres v → u (inf: one-way)
    highway: np.ndarray
    name: np.ndarray
    road_of_edge: np.ndarray  # (E,) road of each directed edge
    rev_time: sp.csr_matrix  # reversed travel-time graph (N × N): the network's own
    rev_len: sp.csr_matrix  # reversed length graph
    sym_len: sp.csr_matrix  # undirected length graph
    xy: np.ndarray  # (P, 2) metric vertices of every road
    offsets: np.ndarray  # (R + 1,)
    vkey: np.ndarray  # (P,) 2 * road + fraction of length: sorted, for cutting
    mid: np.ndarray  # (R, 2) metric midpoints
    bounds: np.ndarray  # (R, 4) metric xmin, ymin, xmax, ymax
    to_wgs: pyproj.Transformer

    @property
    def n(self) -> int:
        return len(self.edge)

    @classmethod
    def build(cls, net: Network) -> Roads:
        edge = net.road_edges()
        twin = net.edge_twin[edge]
        road_of_edge = np.empty(net.n_edges, dtype=np.int64)
        road_of_edge[edge] = np.arange(len(edge))
        has_twin = twin >= 0
        road_of_edge[twin[has_twin]] = np.flatnonzero(has_twin)
        tw = np.maximum(twin, 0)
        n = net.n_nodes
        rev_len, _ = sparse_graph(net.edge_v, net.edge_u, net.edge_length, n)
        sym_len, _ = sparse_graph(
            np.concatenate([net.edge_u, net.edge_v]),
            np.concatenate([net.edge_v, net.edge_u]),
            np.concatenate([net.edge_length, net.edge_length]),
            n,
        )
        # Metric polylines of the representative edges.
        counts = np.diff(net.geom_offsets)[edge]
        starts = net.geom_offsets[edge]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        take = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        lon, lat = net.geom_xy[take, 0], net.geom_xy[take, 1]
        x, y = net.to_metric(lon, lat)
        xy = np.column_stack([x, y])
        road_of_vertex = np.repeat(np.arange(len(edge)), counts)
        seg = np.hypot(*np.diff(xy, axis=0).T)
        seg[road_of_vertex[1:] != road_of_vertex[:-1]] = 0.0
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        cum -= np.repeat(cum[offsets[:-1]], counts)
        total = np.repeat(cum[offsets[1:] - 1], counts)
        frac = np.where(total > 0, cum / np.where(total > 0, total, 1.0), 0.0)
        frac[offsets[1:] - 1] = 1.0
        vkey = 2.0 * road_of_vertex + frac
        mid = interpolate(xy, offsets, vkey, np.arange(len(edge)), np.full(len(edge), 0.5))
        bounds = np.column_stack(
            [
                np.minimum.reduceat(x, offsets[:-1]),
                np.minimum.reduceat(y, offsets[:-1]),
                np.maximum.reduceat(x, offsets[:-1]),
                np.maximum.reduceat(y, offsets[:-1]),
            ]
        )
        return cls(
            edge=edge,
            u=net.edge_u[edge],
            v=net.edge_v[edge],
            tf=net.edge_time[edge].astype(float),
            tb=np.where(has_twin, net.edge_time[tw], np.inf),
            lf=net.edge_length[edge].astype(float),
            lb=np.where(has_twin, net.edge_length[tw], np.inf),
            highway=net.edge_highway[edge],
            name=net.edge_name[edge],
            road_of_edge=road_of_edge,
            rev_time=net.reverse_matrix(),
            rev_len=rev_len,
            sym_len=sym_len,
            xy=xy,
            offsets=offsets,
            vkey=vkey,
            mid=mid,
            bounds=bounds,
            to_wgs=pyproj.Transformer.from_crs(net.metric_crs, "EPSG:4326", always_xy=True),
        )

    def on_road(self, points: RoadPoints) -> tuple[np.ndarray, np.ndarray]:
        """Road index and road fraction of snapped points (on the roads' own edges)."""
        return self.road_of_edge[points.edge], points.frac

    def cut(self, r: np.ndarray, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
        """Metric LineStrings of road ``r`` between fractions ``g0 < g1`` (vectorised)."""
        if not len(r):
            return np.empty(0, dtype=object)
        lo = self.offsets[r] + 1
        hi = self.offsets[r + 1] - 1
        j0 = np.clip(np.searchsorted(self.vkey, 2.0 * r + g0, side="right"), lo, hi)
        j1 = np.clip(np.searchsorted(self.vkey, 2.0 * r + g1, side="left"), lo, hi)
        p0 = _point_in_segment(self.xy, self.vkey, j0, 2.0 * r + g0)
        p1 = _point_in_segment(self.xy, self.vkey, j1, 2.0 * r + g1)
        inner = np.maximum(j1 - j0, 0)
        counts = inner + 2
        piece = np.repeat(np.arange(len(r)), counts)
        k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        src = np.clip(j0[piece] + k - 1, 0, len(self.xy) - 1)
        coords = self.xy[src].copy()
        first = k == 0
        last = k == counts[piece] - 1
        coords[first] = p0
        coords[last] = p1
        return shapely.linestrings(coords, indices=piece)


def _point_in_segment(
    xy: np.ndarray, vkey: np.ndarray, j: np.ndarray, key: np.ndarray
) -> np.ndarray:
    a, b = xy[j - 1], xy[j]
    ka, kb = vkey[j - 1], vkey[j]
    span = kb - ka
    t = np.clip(np.where(span > 0, (key - ka) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    return a + (b - a) * t[:, None]


def interpolate(
    xy: np.ndarray, offsets: np.ndarray, vkey: np.ndarray, r: np.ndarray, g: np.ndarray
) -> np.ndarray:
    """Metric points at fraction ``g`` along roads ``r``."""
    lo = offsets[r] + 1
    hi = offsets[r + 1] - 1
    j = np.clip(np.searchsorted(vkey, 2.0 * r + g, side="right"), lo, hi)
    return _point_in_segment(xy, vkey, j, 2.0 * r + g)
