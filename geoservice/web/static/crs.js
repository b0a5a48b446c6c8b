/*
 * Overlays that sit on the right street over GCJ-02 tiles (高德 and most Chinese tile
 * servers), as window.geoserviceCrs.
 *
 * Stored data and every API speak WGS84; GCJ-02 tiles are drawn ~500 m off it. While a
 * GCJ-02 basemap is shown (its Leaflet tile layer carries the option `gcj02`, set by
 * maps._add_basemaps) and the district lies in China (the map's option `gcj02Shift`), the
 * map's CRS becomes `GCJ02`: Web Mercator of the point shifted to GCJ-02. So every overlay
 * (markers, route lines, polygons, GeoJSON layers, whichever script draws them) is shown
 * shifted, and every position read back from the map (clicks, drags, bounds) is turned
 * back into WGS84 by the CRS's unproject: one place, nothing for the pages' own scripts to
 * do. Switching the basemap switches the CRS and re-projects everything.
 *
 * toGcj02 is the port of geoservice.crs.wgs84_to_gcj02 (same series, same order of
 * operations: tests/test_basemaps.py compares the two to < 1 cm); toWgs84 inverts it by
 * the same fixed-point iteration as crs.gcj02_to_wgs84. Outside the rough box of China
 * both are the identity, as in crs.py.
 *
 * Loaded with `defer` before the pages' scripts (pages._assets), after folium's inline
 * script has created the map.
 */
(function () {
  "use strict";

  // Krasovsky 1940 ellipsoid (crs._KRASOVSKY_A, crs._KRASOVSKY_EE).
  var A = 6378245.0;
  var EE = 0.00669342162296594323;
  var EARTH_RADIUS_M = 6371009.0;
  var M_PER_DEG = EARTH_RADIUS_M * Math.PI / 180.0;
  var TOL_M = 0.01;
  var MAX_ITER = 30;

  // crs._in_china: the customary rough box of mainland China.
  function inChina(lon, lat) {
    return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
  }

  // crs._gcj02_offset_m: the offset field in metres (east, north).
  function offsetM(lon, lat) {
    var x = lon - 105.0;
    var y = lat - 35.0;
    var xp = x * Math.PI;
    var yp = y * Math.PI;
    var xy = x * y;
    var sqrtAbsX = Math.sqrt(Math.abs(x));
    var shared = 20.0 * Math.sin(6.0 * xp) + 20.0 * Math.sin(2.0 * xp);
    var eastWaves = shared + 20.0 * Math.sin(xp) + 40.0 * Math.sin(xp / 3.0) +
      150.0 * Math.sin(xp / 12.0) + 300.0 * Math.sin(xp / 30.0);
    var northWaves = shared + 20.0 * Math.sin(yp) + 40.0 * Math.sin(yp / 3.0) +
      160.0 * Math.sin(yp / 12.0) + 320.0 * Math.sin(yp / 30.0);
    var east = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * xy + 0.1 * sqrtAbsX;
    east += eastWaves * (2.0 / 3.0);
    var north = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * xy + 0.2 * sqrtAbsX;
    north += northWaves * (2.0 / 3.0);
    return [east, north];
  }

  // crs._wgs84_to_gcj02_raw: the offset turned into degrees on the Krasovsky ellipsoid.
  function forwardRaw(lon, lat) {
    var off = offsetM(lon, lat);
    var phi = lat * Math.PI / 180.0;
    var s = Math.sin(phi);
    var w2 = 1.0 - EE * s * s;
    var w = Math.sqrt(w2);
    var meridian = A * (1.0 - EE) / (w2 * w);
    var primeVertical = A / w;
    var deg = Math.PI / 180.0;
    return [lon + off[0] / (primeVertical * Math.cos(phi) * deg), lat + off[1] / (meridian * deg)];
  }

  // WGS84 → GCJ-02, [lon, lat] (crs.wgs84_to_gcj02).
  function toGcj02(lon, lat) {
    if (!isFinite(lon) || !isFinite(lat)) return [NaN, NaN];
    return inChina(lon, lat) ? forwardRaw(lon, lat) : [lon, lat];
  }

  // crs._local_distance_m: metres from a point to a nearby target.
  function distanceM(lon, lat, targetLon, targetLat) {
    var dy = (lat - targetLat) * M_PER_DEG;
    var dx = (lon - targetLon) * (M_PER_DEG * Math.cos(targetLat * Math.PI / 180.0));
    return Math.sqrt(dx * dx + dy * dy);
  }

  // GCJ-02 → WGS84, [lon, lat] (crs.gcj02_to_wgs84): iterate w -= f(w) - p.
  function toWgs84(lon, lat) {
    if (!isFinite(lon) || !isFinite(lat)) return [NaN, NaN];
    if (!inChina(lon, lat)) return [lon, lat];
    var g = forwardRaw(lon, lat);
    var w = [2.0 * lon - g[0], 2.0 * lat - g[1]];
    for (var i = 0; i < MAX_ITER; i++) {
      var f = forwardRaw(w[0], w[1]);
      w = [w[0] - (f[0] - lon), w[1] - (f[1] - lat)];
      if (distanceM(f[0], f[1], lon, lat) < TOL_M) break;
    }
    return w;
  }

  if (typeof L === "undefined") return;

  var mercator = L.Projection.SphericalMercator;

  // Web Mercator of the GCJ-02 position: a WGS84 LatLng lands on the GCJ-02 tile grid.
  var GCJ02 = L.extend({}, L.CRS.EPSG3857, {
    code: "GCJ02",
    projection: {
      bounds: mercator.bounds,
      project: function (latlng) {
        var g = toGcj02(latlng.lng, latlng.lat);
        return mercator.project(L.latLng(g[1], g[0]));
      },
      unproject: function (point) {
        var g = mercator.unproject(point);
        var w = toWgs84(g.lng, g.lat);
        return L.latLng(w[1], w[0]);
      },
    },
  });

  // The CRS the map needs for the basemap it shows now.
  function wanted(map) {
    var gcj = false;
    if (map.options.gcj02Shift) {
      map.eachLayer(function (layer) {
        if (layer instanceof L.TileLayer && layer.options.gcj02) gcj = true;
      });
    }
    return gcj ? GCJ02 : L.CRS.EPSG3857;
  }

  // Give the map the CRS of its basemap (keeping the same WGS84 centre), and draw the
  // offline roads only when no tiles are shown: tiles have roads of their own.
  function apply(map) {
    var tiles = false;
    map.eachLayer(function (layer) { if (layer instanceof L.TileLayer) tiles = true; });
    var roads = map.getPane("roads");
    if (roads) roads.style.display = tiles ? "none" : "";
    var crs = wanted(map);
    if (map.options.crs === crs) return;
    var center = map.getCenter();
    var zoom = map.getZoom();
    map.options.crs = crs;
    // A reset (not a pan) re-projects every layer: markers, paths, tiles, popups.
    map.setView(center, zoom, { reset: true });
  }

  function start(map) {
    apply(map);
    map.on("baselayerchange", function () { apply(map); });
    // RoadsBasemap makes its pane when its script runs, before this one; a page may add
    // tile layers later too.
    map.on("layeradd layerremove", function (ev) {
      if (ev.layer instanceof L.TileLayer) apply(map);
    });
  }

  window.geoserviceCrs = Object.freeze({
    GCJ02: GCJ02,
    inChina: inChina,
    toGcj02: toGcj02,
    toWgs84: toWgs84,
    apply: apply,
  });

  if (window.geoserviceMap) start(window.geoserviceMap);
  else document.addEventListener("geoservice:map-ready", function (ev) { start(ev.detail.map); });
})();
