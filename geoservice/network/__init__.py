"""Road networks per travel mode, converted once into arrays for fast routing.

An OSM file's roads (:func:`osm.read_osm`) become one :class:`Network` per mode
(:func:`build_from_osm`, vectorised); a GraphML file or an osmnx download goes through
networkx and osmnx's ``simplify_graph`` (:func:`build`). Both give the same networks:
osmnx's way parsing and topological simplification, then the rules per mode:

``walk``
    4.5 km/h on every way a pedestrian may use (no motorways); one-way tags ignored.
``bike``
    e-bike, the delivery riders' mode: 15–20 km/h by road class, no motorways or
    pedestrian-only ways (unless ``bicycle=yes``); one-way streets respected.
``drive``
    ``maxspeed`` where tagged, else a speed per highway type; one-way respected; no
    footways, paths or tracks.

Modules: ``osm`` reads OSM files into arrays, ``simplify`` is osmnx's topological
simplification on arrays, ``builder`` applies the mode rules, ``graph`` is the
:class:`Network` (arrays, CSR matrix), ``points`` places points on its roads (exact
snapping, partial-edge pieces, the snap and access-speed constants: :class:`RoadPoints`),
``library`` holds the active source, its caches and the engines that follow it
(:class:`NetworkLibrary`, :class:`Watched`), and ``places`` gives villages the positions of
the network's ``place=*`` nodes.
"""

from geoservice.errors import NetworkError
from geoservice.network.builder import (
    BIKE_KMH,
    BUILD_VERSION,
    DRIVE_KMH,
    build,
    build_from_osm,
    great_circle,
    parse_maxspeed,
)
from geoservice.network.graph import MAJOR_ROADS, MODE_LABELS, MODES, Network, sub_coords
from geoservice.network.library import (
    Built,
    NetworkLibrary,
    build_source,
    cache_path,
    file_digest,
    load_networks,
    load_places,
    save_places,
)
from geoservice.network.points import (
    ACCESS_KMH,
    FAR_M,
    LANE_KMH,
    MAX_SNAP_M,
    WALK_KMH,
    RoadPoints,
    access_speed_ms,
)

__all__ = [
    "ACCESS_KMH",
    "BIKE_KMH",
    "BUILD_VERSION",
    "DRIVE_KMH",
    "FAR_M",
    "LANE_KMH",
    "MAJOR_ROADS",
    "MAX_SNAP_M",
    "MODES",
    "MODE_LABELS",
    "WALK_KMH",
    "Built",
    "Network",
    "NetworkError",
    "NetworkLibrary",
    "RoadPoints",
    "access_speed_ms",
    "build",
    "build_from_osm",
    "build_source",
    "cache_path",
    "file_digest",
    "great_circle",
    "load_networks",
    "load_places",
    "parse_maxspeed",
    "save_places",
    "sub_coords",
]
