/*
 * The back office's station and site pages (web/admin/records.py).
 *
 * The list (templates/admin/records_list.html): a changed filter applies at once.
 *
 * The form (templates/admin/record_form.html): a Leaflet map (vendored) on which the
 * position is set by clicking the map or dragging the marker; the lon/lat inputs follow
 * the marker and move it when typed in; "use my position" (the phone's GPS, WGS84) where
 * the browser allows it. Coordinates pasted from Amap (GCJ-02) or Baidu (BD-09) are
 * converted by the server (/admin/preview/position, the same conversion the save makes
 * from the posted paste box and its crs) only to show where they land; the paste box
 * itself is what is saved, until the marker is moved by hand. Opening hours typed in
 * Chinese are shown as the OSM value they will be stored as (/admin/preview/hours).
 * Leaving the page with unsaved changes asks first.
 *
 * Plain ES2017, no framework, no CDN. Data (names from the stations layer, messages) reaches
 * the page only through textContent; the page's configuration comes as JSON in
 * <script type="application/json" id="record-config">. The CSP allows no inline script:
 * behaviour is bound with addEventListener.
 */
(function () {
  "use strict";

  var DIGITS = 7; // as the store keeps coordinates
  var WAIT_MS = 350; // typing pause before a preview is asked for

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // At most `max` characters (code points), the last one "…" (maps.clip on the server).
  function clip(value, max) {
    var chars = Array.from(value === null || value === undefined ? "" : String(value));
    return chars.length <= max ? chars.join("") : chars.slice(0, max - 1).join("") + "\u2026";
  }

  function readConfig(id) {
    var node = $(id);
    try {
      return JSON.parse(node ? node.textContent : "{}") || {};
    } catch (err) {
      return {};
    }
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // GET JSON from this site; null when the answer is not JSON (e.g. the login page after
  // the session ended) or the request failed.
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        var type = r.headers.get("Content-Type") || "";
        return r.ok && type.indexOf("json") >= 0 ? r.json() : null;
      })
      .catch(function () {
        return null;
      });
  }

  function say(node, text, kind) {
    if (!node) return;
    node.textContent = text || "";
    node.classList.toggle("is-error", kind === "error");
    node.classList.toggle("is-warning", kind === "warning");
  }

  // -- the list ------------------------------------------------------------------------

  var filter = $("records-filter");
  if (filter) {
    filter.addEventListener("change", function (event) {
      var t = event.target;
      if (t && (t.tagName === "SELECT" || t.type === "checkbox")) {
        if (filter.requestSubmit) filter.requestSubmit();
        else filter.submit();
      }
    });
  }

  // -- the form ------------------------------------------------------------------------

  var form = $("record-form");
  if (!form || !window.L) return;
  var cfg = readConfig("record-config");
  var fields = form.querySelector("fieldset.record-fields");
  var editable = !(fields && fields.disabled);
  var lon = $("lon");
  var lat = $("lat");
  var paste = $("paste");
  var crs = $("crs");
  var pastePreview = $("paste-preview");
  var status = $("position-status");
  var coordSource = $("coord_source");

  // -- unsaved changes ---------------------------------------------------------------
  var dirty = form.hasAttribute("data-unsaved");
  var submitting = false;
  form.addEventListener("input", function () {
    dirty = true;
  });
  form.addEventListener("change", function () {
    dirty = true;
  });
  form.addEventListener("submit", function () {
    submitting = true;
  });
  window.addEventListener("beforeunload", function (event) {
    if (editable && dirty && !submitting) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // -- the map -----------------------------------------------------------------------
  var map = L.map("record-map", { maxZoom: 19, zoomControl: true });
  if (cfg.tiles && cfg.tiles.url) {
    // The attribution is the server's configuration (trusted), not data.
    L.tileLayer(cfg.tiles.url, { attribution: cfg.tiles.attribution, maxZoom: 19 }).addTo(map);
  }
  map.createPane("roads");
  map.getPane("roads").style.zIndex = 350;
  map.getPane("roads").style.pointerEvents = "none";
  if (cfg.outline) {
    L.geoJSON(cfg.outline, {
      interactive: false,
      style: function () {
        return { color: "#b22222", weight: 2, fill: false };
      },
    }).addTo(map);
  }

  function number(input) {
    var text = input ? input.value.trim() : "";
    var x = text === "" ? NaN : Number(text);
    return isFinite(x) ? x : NaN;
  }

  function typed() {
    var x = number(lon);
    var y = number(lat);
    return isFinite(x) && isFinite(y) && Math.abs(x) <= 180 && Math.abs(y) <= 90
      ? L.latLng(y, x)
      : null;
  }

  var townSelect = $("town_code");
  var seats = cfg.town_seats || {};

  function seatOfTown() {
    var seat = townSelect ? seats[townSelect.value] : null;
    return seat ? L.latLng(seat[0], seat[1]) : null;
  }

  // Where the map starts: the record; else the seat of the chosen town; else the district.
  var start = typed();
  if (start) map.setView(start, 16);
  else if (seatOfTown()) map.setView(seatOfTown(), 14);
  else if (cfg.bounds) map.fitBounds(cfg.bounds);
  else map.setView([40.38, 116.84], 11);

  var marker = null;

  function showMarker(latlng) {
    if (marker) {
      marker.setLatLng(latlng);
      return;
    }
    marker = L.marker(latlng, {
      draggable: editable,
      autoPan: true,
      keyboard: true,
      title: "位置（可拖动）",
      alt: "位置标记",
    }).addTo(map);
    marker.on("dragend", function () {
      place(marker.getLatLng(), "drag");
    });
  }

  function fixed(x) {
    return String(Number(x.toFixed(DIGITS)));
  }

  // The position chosen on the map (or by GPS): it is what is saved from now on, so a
  // pasted coordinate no longer counts.
  function place(latlng, how) {
    var p = latlng.wrap();
    showMarker(p);
    lon.value = fixed(p.lng);
    lat.value = fixed(p.lat);
    if (how !== "paste" && paste && paste.value) {
      paste.value = "";
      say(pastePreview, "");
    }
    if (coordSource && coordSource.value === "missing") coordSource.value = "manual";
    dirty = true;
    var where = how === "drag" ? "已拖动到" : how === "gps" ? "已按手机定位放在" : "已放在";
    if (how !== "paste") say(status, where + " " + lon.value + ", " + lat.value + "（WGS84）");
  }

  if (start) showMarker(start);

  // A record not placed yet: choosing its town shows that town.
  if (townSelect && editable) {
    townSelect.addEventListener("change", function () {
      var seat = seatOfTown();
      if (seat && !marker) map.setView(seat, 14);
    });
  }

  if (editable) {
    map.on("click", function (event) {
      place(event.latlng, "map");
    });
    var moveFromInputs = function () {
      var p = typed();
      if (!p) return;
      showMarker(p);
      map.panTo(p);
      if (paste && paste.value) {
        paste.value = "";
        say(pastePreview, "");
      }
    };
    lon.addEventListener("change", moveFromInputs);
    lat.addEventListener("change", moveFromInputs);
  }

  // The routing network's major roads: the offline basemap (no tiles in a closed network).
  if (cfg.roads_url) {
    getJSON(cfg.roads_url).then(function (data) {
      if (!data || !data.features) return;
      L.geoJSON(data, {
        pane: "roads",
        interactive: false,
        style: function () {
          return { color: "#9aa3ad", weight: 1.5, opacity: 0.8, className: "road" };
        },
      }).addTo(map);
    });
  }

  // The other stations, small and grey: to see a neighbour before adding a duplicate.
  if (cfg.neighbours_url) {
    getJSON(cfg.neighbours_url).then(function (data) {
      if (!data || !data.features) return;
      var layer = L.layerGroup();
      data.features.forEach(function (f) {
        var g = f.geometry;
        if (!g || g.type !== "Point" || f.id === cfg.record_id) return;
        var dot = L.circleMarker([g.coordinates[1], g.coordinates[0]], {
          radius: 4,
          color: "#ffffff",
          weight: 1,
          fillColor: "#6b7280",
          fillOpacity: 0.85,
          bubblingMouseEvents: true,
        });
        // textContent only: names are data.
        dot.bindTooltip(el("span", "", clip((f.properties || {}).name, cfg.name_max || 60)));
        layer.addLayer(dot);
      });
      layer.addTo(map);
      if (marker) marker.setZIndexOffset(1000);
    });
  }

  // -- my position (GPS) ---------------------------------------------------------------
  var locate = $("locate");
  if (locate && editable && navigator.geolocation && window.isSecureContext) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      say(status, "正在定位……");
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          var p = L.latLng(pos.coords.latitude, pos.coords.longitude);
          place(p, "gps");
          map.setView(p, 17);
          if (pos.coords.accuracy > 50) {
            say(status, status.textContent + "；定位误差约 " + Math.round(pos.coords.accuracy) +
              " 米，请在地图上核对", "warning");
          }
        },
        function () {
          say(status, "无法获取位置：请允许浏览器定位，或在地图上点选", "error");
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 }
      );
    });
  }

  // -- pasted coordinates ------------------------------------------------------------
  var pasteSeq = 0;
  function previewPaste() {
    var text = paste.value.trim();
    var seq = ++pasteSeq;
    if (!text) {
      say(pastePreview, "");
      return;
    }
    var url = cfg.position_url + "?text=" + encodeURIComponent(text) +
      "&crs=" + encodeURIComponent(crs.value);
    getJSON(url).then(function (answer) {
      if (seq !== pasteSeq) return; // a later paste is on its way
      if (!answer) {
        say(pastePreview, "暂时无法换算，保存时由服务器换算", "warning");
        return;
      }
      if (!answer.ok) {
        say(pastePreview, answer.message, "error");
        return;
      }
      var p = L.latLng(answer.lat, answer.lon);
      place(p, "paste");
      map.setView(p, Math.max(map.getZoom(), 16));
      var label = crs.options[crs.selectedIndex] ? crs.options[crs.selectedIndex].text : "";
      say(
        pastePreview,
        "按" + label + "换算为 WGS84：" + fixed(answer.lon) + ", " + fixed(answer.lat) +
          (answer.inside ? "（已在地图上标出）" : "；注意：不在" + answer.district + "界内"),
        answer.inside ? "" : "warning"
      );
    });
  }
  if (paste && crs && editable) {
    paste.addEventListener("input", debounce(previewPaste, WAIT_MS));
    crs.addEventListener("change", previewPaste);
    if (paste.value.trim()) previewPaste();
  }

  // -- opening hours -----------------------------------------------------------------
  var hoursInput = $("opening_hours");
  var hoursPreview = $("opening_hours-preview");
  var hoursSeq = 0;
  function previewHours() {
    var text = hoursInput.value;
    var seq = ++hoursSeq;
    if (!text.trim()) {
      say(hoursPreview, "");
      return;
    }
    getJSON(cfg.hours_url + "?text=" + encodeURIComponent(text)).then(function (answer) {
      if (seq !== hoursSeq || !answer) return;
      if (!answer.ok) {
        say(hoursPreview, answer.message, "error");
        return;
      }
      say(hoursPreview, "");
      hoursPreview.appendChild(document.createTextNode("将保存为 OSM："));
      hoursPreview.appendChild(el("code", "", answer.osm));
      hoursPreview.appendChild(document.createTextNode(" · " + answer.zh));
    });
  }
  if (hoursInput && hoursPreview && editable && cfg.hours_url) {
    hoursInput.addEventListener("input", debounce(previewHours, WAIT_MS));
  }

  // Leaflet measures its box when made; the page's fonts and layout may change it after.
  window.addEventListener("load", function () {
    map.invalidateSize();
  });
})();
