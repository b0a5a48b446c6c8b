"""Coverage of the roads by warm stations: isochrones, catchments, cross-coverage, gaps and
the figures against the ACFTU standard (1 km service radius, 15-minute walk).

How it is computed, exactly and fast:

1. The matching stations (``kind``, ``amenity``, and open at ``open_at`` when given —
   the same filters and names as the nearest-station answer) are snapped onto their road
   and joined to the *reversed* graph (the network's own,
   :meth:`~geoservice.network.Network.reverse_matrix`) as sources, the way from the road
   to the door included (at the mode's access speed, as everywhere:
   :func:`~geoservice.network.points.access_speed_ms`).
2. **One** multi-source K-label Dijkstra — the nearest-station engine's own kernel,
   :func:`geoservice.network.labels.k_labels` (numba) — gives every node its nearest
   *distinct* stations, nearest first: with ``k = 2`` its travel time to the nearest
   station and which station that is (its catchment), and the second-nearest for
   cross-coverage, kept only within the largest threshold (a bounded search). Memory is
   O(nodes × k), no row per station. The ACFTU radius (metres) and the towns
   take the same search on coverage's length graphs with ``k = 1``.
3. Along each road the time to a station is the lower envelope of a few linear
   functions: through either end node (best and second-best station) and straight to a
   station standing on that road. The envelope is split at every crossing and
   threshold, so partially reached roads are cut at the exact cut-off point and lengths
   are exact to floating-point precision.
4. Polygons are the reached road pieces buffered (50 m by default) and dissolved — never
   hulls, so no polygon claims water or a valley no road joins. Dissolving is the
   expensive part, so it is done per *cell* (one town's roads around a 1 km tile) and
   clipped to the tile: tiles never overlap, so town and district areas are sums over
   tiles, and an edit re-dissolves only the few cells whose inputs changed (each cell
   polygon is cached under a fingerprint of its inputs). Within a cell, a cluster of
   roads reached whole (a town's roads in a 250 m cell) brings its dissolved buffer,
   made once since it does not depend on the stations; only the frontier is buffered
   per query. The display polygon of a threshold is assembled from its tiles when asked
   for (:func:`shapely.coverage_union_all` on the tiles snapped to 1 mm).
5. Towns have no polygons in any source: each road takes the town of the nearest
   *located* village, community or town seat along the network (approximate, 近似).
   Figures are given over the roads where people live and work (see `people_roads`)
   with the whole network's beside them.

Everything that does not depend on the station set (road tables, matrices, towns,
settlement mask, cluster buffers) is cached per network, so recomputing after one
station edit costs a Dijkstra, the envelope and the changed cells' polygons.

Parameters are parsed here (:meth:`CoverageQuery.parse`), with the same names as the
nearest-station answer; `open_at` absent means every matching station counts whatever
its hours (the planning view), present means only those open then. Results are
JSON-ready (:meth:`Coverage.to_dict`, :meth:`Coverage.layer`, :meth:`Coverage.to_geojson`).

The modules, one concern each:

``query``
    :class:`CoverageQuery`, :func:`parse_minutes`, defaults, limits and notice texts.
``roads``
    The static road tables of a network; cutting and interpolating along roads.
``places``
    Road towns, the roads where people live and work, located villages.
``paths``
    The stations as sources of the one K-label search, the field of node labels.
``envelope``
    Road pieces of constant coverage (the lower envelope), the cost at points on roads.
``tiles``
    Polygons: clusters, tiling, cached cell polygons, dissolving, the thread pool.
``figures``
    District and town figures, uncovered villages, gaps, notices.
``result``
    :class:`Coverage` and its GeoJSON layers.
``engine``
    :class:`CoverageEngine` (the per-mode caches, the stations), its
    :class:`~geoservice.coverage.engine.Snapshot` (computations over the same stations:
    the counted stations as sources, their time field, coverage, new sites evaluated) and
    :class:`CoverageProvider`.

``siting`` (new stations) and ``publish`` (the static site) build on these.
"""

from geoservice.coverage.engine import CoverageEngine, CoverageProvider
from geoservice.coverage.places import people_roads
from geoservice.coverage.query import (
    ACFTU_RADIUS_M,
    BUFFER_M,
    DEFAULT_MINUTES,
    MAX_GAP_FEATURES,
    MAX_MINUTES,
    MAX_THRESHOLDS,
    NOTICES,
    CoverageQuery,
    parse_minutes,
)
from geoservice.coverage.result import LAYERS, Coverage
from geoservice.network import MODE_LABELS
from geoservice.network.labels import warm_kernel

__all__ = [
    "ACFTU_RADIUS_M",
    "BUFFER_M",
    "DEFAULT_MINUTES",
    "LAYERS",
    "MAX_GAP_FEATURES",
    "MAX_MINUTES",
    "MAX_THRESHOLDS",
    "MODE_LABELS",
    "NOTICES",
    "Coverage",
    "CoverageEngine",
    "CoverageProvider",
    "CoverageQuery",
    "parse_minutes",
    "people_roads",
    "warm_kernel",
]
