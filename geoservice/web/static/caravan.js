/*
 * /caravan — plan the district caravan's multi-day tour (区级大篷车巡回路线).
 *
 * Plain ES2017, no framework, no CDN; built on common.js (window.geoservice), whose rules
 * for data apply. The page's configuration (the stops to choose from, towns, kinds,
 * defaults, limits, the day colours) comes as JSON in #caravan-config; plans come from
 * /api/tours. Every value from data (names, towns, reasons, ids) reaches the page as cut,
 * bidi-isolated text; links are built only from https: URLs and from plan ids of the
 * service's own format.
 */
(function () {
  "use strict";

  var gs = window.geoservice;
  var { h, clip, isolate, dataText, clear, notice, t } = gs;

  var cfg = gs.pageConfig("caravan-config");
  var NAME_MAX = gs.limits.name;
  var TEXT_MAX = gs.limits.text;
  var LIMITS = cfg.limits || { days: 31, stops: 300, service_minutes: 720, lunch_minutes: 180 };
  var COLOURS = cfg.day_colours && cfg.day_colours.length ? cfg.day_colours : ["#0072B2"];
  var DASHES = cfg.day_dashes && cfg.day_dashes.length ? cfg.day_dashes : [null];
  var PLAN_ID = /^\d{8}-\d{6}-(?:[0-9a-f]{20}|[0-9a-f]{6})$/;
  var FORMATS = [
    ["gpx", t("GPX 轨迹"), t("导入手机导航或户外地图 App")],
    ["csv", t("CSV 日程"), t("Excel 可打开")],
    ["xlsx", t("Excel 日程"), t("含未安排站点")],
    ["geojson", "GeoJSON", t("GIS 软件")],
    ["html", t("打印日程"), t("每天一页，含小地图")],
  ];
  //: Request fields → their names on this page (for 400 answers naming a field).
  var FIELDS = {
    body: [t("请求"), null],
    depot: [t("出发基地"), "cv-depot"],
    stops: [t("站点"), null],
    days: [t("可用天数"), "cv-days"],
    start_date: [t("开始日期"), "cv-start-date"],
    skip_days_off: [t("跳过节假日"), "cv-skip"],
    day_start: [t("出发时间"), "cv-day-start"],
    day_end: [t("收工时间"), "cv-day-end"],
    lunch_minutes: [t("午餐时长"), "cv-lunch"],
    service_minutes: [t("服务时长"), "cv-service"],
    time_windows: [t("到访时段"), null],
    optional: [t("可选站点"), null],
  };
  //: Options of a selected stop: mandatory, or optional with priority 1 (high) … 5 (low).
  var PRIORITY_LABELS = [t("必选"), t("可选·优先1"), t("可选·优先2"), t("可选·优先3"), t("可选·优先4"),
    t("可选·优先5")];
  //: A clock time as the API takes it (params.clock), 00:00–23:59.
  var CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
  //: A stop without settings of its own.
  var NO_SETTINGS = { service: "", from: "", to: "" };

  var KIND = {};
  var KIND_ORDER = {};
  (cfg.kinds || []).forEach(function (k, i) {
    KIND[k[0]] = { label: k[1], colour: k[2] };
    KIND_ORDER[k[0]] = i;
  });
  var STOPS = Array.isArray(cfg.stops) ? cfg.stops : [];
  var BY_ID = {};
  var INDEX = {};
  STOPS.forEach(function (s, i) {
    BY_ID[s.id] = s;
    INDEX[s.id] = i;
  });
  var TOWN_NAMES = {};
  (cfg.towns || []).forEach(function (t) { TOWN_NAMES[t[0]] = t[1]; });

  var el = {};
  var state = {
    map: null,
    job: null, // the plan being made on the server: { body: job, url: /api/jobs/<id> }
    selected: {}, // id → priority (0: mandatory, 1–5: optional)
    count: 0,
    custom: {}, // id → the stop's own settings as typed (see stopSettings)
    onlySelected: false, // the list shows the selected stops only
    kinds: {},
    query: "",
    depot: cfg.default_depot || null,
    markers: {},
    candidates: null, // L.layerGroup of the stops to choose from
    depotMarker: null,
    planLayer: null,
    dayLayers: {}, // day → [layers]
    plan: null, // the saved plan shown
    planned: null, // the request the shown plan answers (JSON), to tell when it is stale
    focusDay: 0,
    busy: false,
    timer: null,
    savedOffset: 0,
    savedLoaded: false,
  };
  (cfg.default_kinds || []).forEach(function (k) { state.kinds[k] = true; });

  // -- small helpers -------------------------------------------------------------------

  function dayStyle(day) {
    var n = COLOURS.length;
    return {
      colour: COLOURS[(day - 1) % n],
      dash: DASHES[Math.floor((day - 1) / n) % DASHES.length] || null,
    };
  }

  // Black or white text, whichever reads better on `hex` (WCAG relative luminance).
  function inkOn(hex) {
    var m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
    if (!m) return "#fff";
    var lum = [m[1], m[2], m[3]].map(function (x) {
      var c = parseInt(x, 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#000" : "#fff";
  }

  function minutesText(min) {
    var m = Math.round(Number(min) || 0);
    if (m < 60) return m + t(" 分钟");
    var hours = Math.floor(m / 60);
    return hours + t(" 小时") + (m % 60 ? " " + (m % 60) + t(" 分") : "");
  }

  // Hours as the summary shows them: "3.1 小时" (minutes under an hour).
  function hoursText(hours) {
    var v = Number(hours) || 0;
    return v < 1 ? minutesText(v * 60) : v.toFixed(1).replace(/\.0$/, "") + t(" 小时");
  }

  function kmText(km) {
    var v = Number(km) || 0;
    return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + t(" 公里");
  }

  function townName(stop) {
    return stop.town || TOWN_NAMES[stop.town_code] || t("其他");
  }

  function isSchematic(stop) {
    return stop && stop.coord_source === "schematic";
  }

  // -- tabs ----------------------------------------------------------------------------

  var showTabElement = null; // gs.tabs' show(tab)

  function showTab(name) {
    showTabElement(el.tabs.querySelector('.cv-tab[data-pane="' + name + '"]'));
  }

  function bindTabs() {
    showTabElement = gs.tabs(el.tabs.querySelectorAll(".cv-tab"), function (tab) {
      el.body.scrollTop = 0;
      if (tab.getAttribute("data-pane") === "saved" && !state.savedLoaded) loadSaved(false);
    });
  }

  // -- the list of stops, grouped by town ----------------------------------------------

  function townGroups() {
    var order = (cfg.towns || []).map(function (t) { return t[0]; });
    var groups = {};
    STOPS.forEach(function (s) {
      var key = TOWN_NAMES[s.town_code] ? s.town_code : "";
      (groups[key] = groups[key] || []).push(s);
    });
    var keys = order.filter(function (k) { return groups[k]; });
    if (groups[""]) keys.push("");
    return keys.map(function (k) {
      var stops = groups[k].slice().sort(function (a, b) {
        return (KIND_ORDER[a.kind] || 0) - (KIND_ORDER[b.kind] || 0) ||
          String(a.name).localeCompare(String(b.name), "zh-Hans-CN");
      });
      // A district without towns has one list of every stop.
      return { code: k, name: k ? TOWN_NAMES[k] : order.length ? t("其他") : t("全部站点"), stops: stops };
    });
  }

  // The label of a group's select-all button (a district without towns has one group).
  function allLabel(chosen) {
    var town = (cfg.towns || []).length ? t("本乡镇") : "";
    return chosen ? t("取消{town}", { town: town }) : t("全选{town}", { town: town });
  }

  function buildList() {
    clear(el.towns);
    townGroups().forEach(function (group) {
      var section = h("section", "cv-town");
      section.setAttribute("data-town", group.code);
      var head = h("div", "cv-town-head");
      var toggle = h("button", "cv-town-toggle");
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", "false");
      toggle.appendChild(dataText("span", "cv-town-name", group.name, NAME_MAX));
      toggle.appendChild(h("span", "cv-town-count"));
      var all = h("button", "cv-btn cv-town-all", allLabel(false));
      all.type = "button";
      head.appendChild(toggle);
      head.appendChild(all);
      section.appendChild(head);
      var list = h("ul", "cv-items");
      list.hidden = true;
      var listId = "cv-town-" + (group.code || "other");
      list.id = listId;
      toggle.setAttribute("aria-controls", listId);
      group.stops.forEach(function (s) { list.appendChild(item(s)); });
      section.appendChild(list);
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        list.hidden = !open;
      });
      all.addEventListener("click", function () {
        var shown = visibleItems(section);
        var every = shown.length > 0 && shown.every(function (li) {
          return state.selected[li.getAttribute("data-id")] !== undefined;
        });
        shown.forEach(function (li) {
          var id = li.getAttribute("data-id");
          if (every) deselect(id, true);
          else select(id, true);
        });
        selectionChanged();
      });
      el.towns.appendChild(section);
    });
  }

  function item(s) {
    var li = h("li", "cv-item");
    li.setAttribute("data-id", s.id);
    li.setAttribute("data-kind", s.kind);
    var label = h("label", "cv-item-main");
    var box = h("input");
    box.type = "checkbox";
    box.className = "cv-item-check";
    label.appendChild(box);
    var dot = h("span", "cv-dot");
    dot.setAttribute("aria-hidden", "true");
    dot.style.background = (KIND[s.kind] || {}).colour || "#666";
    label.appendChild(dot);
    var text = h("span", "cv-item-text");
    text.appendChild(dataText("span", "cv-item-name", s.name || s.id, NAME_MAX));
    var meta = h("span", "cv-item-meta");
    meta.appendChild(h("span", null, (KIND[s.kind] || {}).label || s.kind));
    meta.appendChild(h("span", "cv-item-service", t("约 {n} 分钟", { n: s.service_minutes })));
    var own = h("span", "cv-item-custom");
    own.hidden = true;
    meta.appendChild(own);
    if (isSchematic(s)) meta.appendChild(h("span", "cv-tag cv-tag-schematic", t("示意位置")));
    if (s.sample) meta.appendChild(h("span", "cv-tag", t("示例")));
    text.appendChild(meta);
    label.appendChild(text);
    li.appendChild(label);
    var prio = h("select", "cv-prio");
    prio.setAttribute("aria-label", t("必选或可选：") + isolate(clip(s.name || s.id, NAME_MAX)));
    PRIORITY_LABELS.forEach(function (text_, value) {
      var option = h("option", null, text_);
      option.value = String(value);
      prio.appendChild(option);
    });
    prio.hidden = true;
    li.appendChild(prio);
    var edit = h("button", "cv-item-edit", t("设置"));
    edit.type = "button";
    edit.hidden = true;
    edit.setAttribute("aria-expanded", "false");
    edit.setAttribute("aria-controls", "cv-edit-" + INDEX[s.id]);
    edit.setAttribute("aria-label", t("设置服务时长和到访时段：") + isolate(clip(s.name || s.id, NAME_MAX)));
    edit.title = t("单独设置本站的服务时长和到访时段");
    li.appendChild(edit);
    edit.addEventListener("click", function () {
      var open = editorOf(s.id);
      if (open && !open.hidden) closeEditor(s.id);
      else openEditor(s.id).querySelector(".cv-edit-service").focus();
    });
    box.addEventListener("change", function () {
      if (box.checked) select(s.id);
      else deselect(s.id);
    });
    prio.addEventListener("change", function () {
      if (state.selected[s.id] === undefined) return;
      state.selected[s.id] = Number(prio.value) || 0;
      selectionChanged();
    });
    return li;
  }

  function itemOf(id) {
    return el.towns.querySelector('.cv-item[data-id="' + cssEscape(id) + '"]');
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
  }

  function visibleItems(root) {
    return Array.prototype.filter.call(root.querySelectorAll(".cv-item"), function (li) {
      return !li.hidden;
    });
  }

  function matches(s) {
    if (state.onlySelected ? state.selected[s.id] === undefined : !state.kinds[s.kind]) {
      return false;
    }
    if (!state.query) return true;
    var q = state.query;
    return String(s.name || "").toLowerCase().indexOf(q) >= 0 ||
      String(s.id).toLowerCase().indexOf(q) >= 0 || townName(s).indexOf(q) >= 0;
  }

  function applyFilter() {
    Array.prototype.forEach.call(el.towns.querySelectorAll(".cv-town"), function (section) {
      var shown = 0;
      Array.prototype.forEach.call(section.querySelectorAll(".cv-item"), function (li) {
        var s = BY_ID[li.getAttribute("data-id")];
        var ok = matches(s) && s.id !== state.depot;
        li.hidden = !ok;
        if (ok) shown += 1;
      });
      section.hidden = shown === 0;
      if ((state.query || state.onlySelected) && shown) {
        // A search, or the selected stops alone, opens every town with a match.
        section.querySelector(".cv-town-toggle").setAttribute("aria-expanded", "true");
        section.querySelector(".cv-items").hidden = false;
      }
    });
    var chips = el.kinds.querySelectorAll(".cv-chip");
    Array.prototype.forEach.call(chips, function (chip) {
      chip.setAttribute("aria-pressed", state.kinds[chip.getAttribute("data-kind")] ? "true" : "false");
    });
    el.onlySelected.setAttribute("aria-pressed", state.onlySelected ? "true" : "false");
    updateCounts();
    syncMarkers();
  }

  // -- selection -----------------------------------------------------------------------

  function select(id, quiet) {
    if (!BY_ID[id] || id === state.depot || state.selected[id] !== undefined) return;
    if (state.count >= LIMITS.stops) {
      stopNotice(t("一次最多规划 {n} 个站点", { n: LIMITS.stops }), t("请分成几次规划。"));
      syncItem(id);
      return;
    }
    state.selected[id] = 0;
    state.count += 1;
    syncItem(id);
    syncMarker(id);
    if (!quiet) selectionChanged();
  }

  function deselect(id, quiet) {
    if (state.selected[id] === undefined) return;
    delete state.selected[id];
    state.count -= 1;
    syncItem(id);
    syncMarker(id);
    if (!quiet) selectionChanged();
  }

  function toggle(id) {
    if (state.selected[id] !== undefined) deselect(id);
    else select(id);
  }

  function syncItem(id) {
    var li = itemOf(id);
    if (!li) return;
    var on = state.selected[id] !== undefined;
    li.classList.toggle("is-selected", on);
    li.querySelector(".cv-item-check").checked = on;
    var prio = li.querySelector(".cv-prio");
    prio.hidden = !on;
    prio.value = String(on ? state.selected[id] : 0);
    li.querySelector(".cv-item-edit").hidden = !on;
    if (!on) closeEditor(id);
    syncCustom(id);
  }

  function selectedIds() {
    // In the list's (the store's) order, whatever the order of the clicks: the same
    // selection is the same request, and the same request gives the same plan.
    return Object.keys(state.selected).sort(function (a, b) { return INDEX[a] - INDEX[b]; });
  }

  function stopNotice(title, detail) {
    clear(el.stopNotices);
    notice(el.stopNotices, "error", title, detail);
  }

  function selectionChanged() {
    clear(el.stopNotices);
    baseNotices();
    updateCounts();
  }

  function updateCounts() {
    el.badge.textContent = String(state.count);
    var optional = Object.keys(state.selected).filter(function (id) {
      return state.selected[id] > 0;
    }).length;
    var own = selectedIds().filter(hasSettings).length;
    var text = state.count ? t("已选 {n} 个站点", { n: state.count }) : t("还没有选择站点");
    var parts = [];
    if (optional) parts.push(t("其中可选 {n} 个", { n: optional }));
    if (own) parts.push(t("单独设置 {n} 个", { n: own }));
    if (parts.length) text += "（" + parts.join("，") + "）";
    if (state.plan && state.planned && state.planned !== JSON.stringify(buildBody(false))) {
      text += t(" · 已修改，需重新规划");
    }
    el.selection.textContent = text;
    el.planBtn.disabled = state.busy || state.count === 0;
    Array.prototype.forEach.call(el.towns.querySelectorAll(".cv-town"), function (section) {
      var items = section.querySelectorAll(".cv-item");
      var chosen = 0;
      var shown = 0;
      var shownChosen = 0;
      Array.prototype.forEach.call(items, function (li) {
        var on = state.selected[li.getAttribute("data-id")] !== undefined;
        if (on) chosen += 1;
        if (!li.hidden) {
          shown += 1;
          if (on) shownChosen += 1;
        }
      });
      section.querySelector(".cv-town-count").textContent = chosen + "/" + items.length;
      section.querySelector(".cv-town-all").textContent = allLabel(shown && shownChosen === shown);
    });
  }

  // Notices about the list itself: sample data, villages without a position.
  function baseNotices() {
    if (STOPS.some(function (s) { return s.sample; })) {
      notice(el.stopNotices, "info", t("示例数据"),
        t("标“示例”的站点为演示用样例，并非总工会正式名录。"));
    }
    if (STOPS.some(isSchematic)) {
      notice(el.stopNotices, "warn", t("标“示意位置”的村、社区位置由路网推算"),
        t("并非实测坐标；导入村庄坐标后以导入的为准。"));
    }
    var missing = cfg.unlocated || {};
    var parts = Object.keys(missing).map(function (k) {
      return t("{kind} {n} 个", { kind: (KIND[k] || {}).label || k, n: missing[k] });
    });
    if (parts.length) {
      var listed = parts.join(t("、"));
      notice(el.stopNotices, "info", t("另有 {what}还没有坐标，暂不能规划", { what: listed }),
        t("请先导入村庄坐标（flask --app app sites import …）。"));
    }
  }

  // -- a stop's own settings: service minutes and a time window ------------------------
  //
  // state.custom[id] holds what the officer typed, {service, from, to}: "" when empty, "?"
  // when the field holds what is not a number or a clock time, so that a bad entry stays
  // and is named when planning. Only the selected stops' settings are sent; an unticked
  // stop keeps them (ticked again, they are back) until "清空已选" or a plan's settings
  // replace them.

  function stopSettings(id) {
    return state.custom[id] || NO_SETTINGS;
  }

  function hasWindow(id) {
    var c = stopSettings(id);
    return c.from !== "" || c.to !== "";
  }

  function hasSettings(id) {
    return stopSettings(id).service !== "" || hasWindow(id);
  }

  function setSettings(id, patch) {
    var next = Object.assign({}, stopSettings(id), patch);
    if (next.service === "" && next.from === "" && next.to === "") delete state.custom[id];
    else state.custom[id] = next;
    syncCustom(id);
  }

  function isMinutes(value) {
    return /^\d{1,4}$/.test(String(value)) && Number(value) <= LIMITS.service_minutes;
  }

  function uniformChosen() {
    return el.form.querySelector("input[name=service][value=uniform]").checked;
  }

  // The minutes a stop gets without a setting of its own, and where they come from.
  function defaultService(id) {
    if (uniformChosen() && isMinutes(el.service.value)) {
      return { minutes: Number(el.service.value), source: t("每站统一") };
    }
    var s = BY_ID[id];
    return { minutes: s.service_minutes, source: s.station ? t("驿站默认") : t("按站点设定") };
  }

  function serviceOf(id) {
    var own = stopSettings(id).service;
    return isMinutes(own) ? Number(own) : defaultService(id).minutes;
  }

  function clockMinutes(text) {
    var parts = String(text).split(":");
    return Number(parts[0]) * 60 + Number(parts[1]);
  }

  // What is wrong with a stop's own settings, checked as the API checks them (and within
  // the working day, and long enough for the visit): [{field, message}], field one of
  // "service", "from", "to".
  function settingsProblems(id) {
    var c = stopSettings(id);
    var out = [];
    if (c.service !== "" && !isMinutes(c.service)) {
      out.push({ field: "service",
        message: t("服务时长应为 0–{max} 分钟的整数", { max: LIMITS.service_minutes }) });
    }
    if (!hasWindow(id)) return out;
    if (c.from === "" || c.to === "") {
      out.push({ field: c.from === "" ? "from" : "to",
        message: t("请同时填写到访时段的开始和结束时刻（或都清空）") });
      return out;
    }
    if (!CLOCK.test(c.from) || !CLOCK.test(c.to)) {
      out.push({ field: CLOCK.test(c.from) ? "to" : "from",
        message: t("时刻应为 HH:MM 格式，如 09:00") });
      return out;
    }
    if (c.to <= c.from) {
      out.push({ field: "to", message: t("到访时段的结束时刻应晚于开始时刻") });
      return out;
    }
    var start = el.dayStart.value;
    var end = el.dayEnd.value;
    if (CLOCK.test(start) && CLOCK.test(end) && (c.from < start || c.to > end)) {
      out.push({ field: c.from < start ? "from" : "to",
        message: t("到访时段应在每天工作时间 {start}–{end} 之内", { start: start, end: end }) });
      return out;
    }
    var span = clockMinutes(c.to) - clockMinutes(c.from);
    var need = serviceOf(id);
    if (span < need) {
      out.push({ field: "to", message: t("到访时段只有 {span}，放不下 {need}的服务", {
        span: minutesText(span), need: minutesText(need),
      }) });
    }
    return out;
  }

  // The list's marks of a stop's own settings (and the minutes it gets otherwise).
  function syncCustom(id) {
    var li = itemOf(id);
    if (!li) return;
    var c = stopSettings(id);
    var on = state.selected[id] !== undefined && hasSettings(id);
    li.classList.toggle("has-custom", on);
    var tags = li.querySelector(".cv-item-custom");
    clear(tags);
    tags.hidden = !on;
    if (on && c.service !== "") {
      tags.appendChild(h("span", "cv-tag cv-tag-custom", t("单独 {n} 分钟", { n: clip(c.service, 6) })));
    }
    if (on && hasWindow(id)) {
      tags.appendChild(h("span", "cv-tag cv-tag-custom",
        t("时段 {from}–{to}", { from: clip(c.from, 8) || "?", to: clip(c.to, 8) || "?" })));
    }
    var service = li.querySelector(".cv-item-service");
    service.hidden = on && c.service !== "";
    service.textContent = t("约 {n} 分钟", { n: defaultService(id).minutes });
  }

  // After the uniform minutes or the working day changed: what the list and the open
  // editors say a stop gets by default.
  function syncDefaults() {
    STOPS.forEach(function (s) { syncCustom(s.id); });
    Array.prototype.forEach.call(el.towns.querySelectorAll(".cv-edit"), function (box) {
      if (!box.hidden) editorHelp(box.getAttribute("data-id"), box);
    });
  }

  function editorOf(id) {
    var li = itemOf(id);
    return li ? li.querySelector(".cv-edit") : null;
  }

  // An input's value, "?" when it holds something that is no value (half a time, "1e").
  function entry(input) {
    return input.validity && input.validity.badInput ? "?" : input.value.trim();
  }

  function buildEditor(s) {
    var n = INDEX[s.id];
    var box = h("div", "cv-edit");
    box.id = "cv-edit-" + n;
    box.setAttribute("data-id", s.id);
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", t("本站单独设置：") + isolate(clip(s.name || s.id, NAME_MAX)));
    box.hidden = true;
    var grid = h("div", "cv-edit-grid");

    var serviceField = h("div", "cv-edit-field");
    var service = h("input", "cv-edit-service");
    service.type = "number";
    service.id = "cv-edit-service-" + n;
    service.min = "0";
    service.max = String(LIMITS.service_minutes);
    service.inputMode = "numeric";
    var serviceLabel = h("label", "cv-edit-label", t("服务时长（分钟）"));
    serviceLabel.htmlFor = service.id;
    serviceField.appendChild(serviceLabel);
    serviceField.appendChild(service);
    grid.appendChild(serviceField);

    var windowField = h("div", "cv-edit-field");
    windowField.setAttribute("role", "group");
    var windowLabel = h("span", "cv-edit-label", t("到访时段（可不填）"));
    windowLabel.id = "cv-edit-window-" + n;
    windowField.setAttribute("aria-labelledby", windowLabel.id);
    windowField.appendChild(windowLabel);
    var range = h("span", "cv-edit-range");
    var from = h("input", "cv-edit-from");
    from.type = "time";
    from.setAttribute("aria-label", t("最早开始"));
    var to = h("input", "cv-edit-to");
    to.type = "time";
    to.setAttribute("aria-label", t("最晚结束"));
    range.appendChild(from);
    range.appendChild(h("span", "cv-edit-sep", t("至")));
    range.appendChild(to);
    windowField.appendChild(range);
    grid.appendChild(windowField);
    box.appendChild(grid);

    box.appendChild(h("p", "cv-help cv-edit-help"));
    var error = h("p", "cv-edit-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    box.appendChild(error);
    var actions = h("div", "cv-actions");
    var reset = h("button", "cv-btn cv-edit-clear", t("清除单独设置"));
    reset.type = "button";
    var done = h("button", "cv-btn cv-btn-primary cv-edit-done", t("完成"));
    done.type = "button";
    actions.appendChild(reset);
    actions.appendChild(done);
    box.appendChild(actions);

    [service, from, to].forEach(function (input) {
      input.addEventListener("input", function () {
        input.removeAttribute("aria-invalid");
        error.hidden = true;
        setSettings(s.id, { service: entry(service), from: entry(from), to: entry(to) });
        editorHelp(s.id, box);
        updateCounts();
      });
    });
    reset.addEventListener("click", function () {
      setSettings(s.id, NO_SETTINGS);
      fillEditor(s.id, box);
      updateCounts();
      service.focus();
    });
    done.addEventListener("click", function () {
      if (showSettingsProblems(s.id)) return;
      closeEditor(s.id);
      itemOf(s.id).querySelector(".cv-item-edit").focus();
    });
    // Escape folds the fields away (what is typed stays; planning checks it).
    box.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape") return;
      ev.preventDefault();
      closeEditor(s.id);
      itemOf(s.id).querySelector(".cv-item-edit").focus();
    });
    // Enter in a field is "完成", as Enter in the settings form plans.
    grid.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault();
        done.click();
      }
    });
    return box;
  }

  function editorHelp(id, box) {
    var d = defaultService(id);
    box.querySelector(".cv-edit-service").placeholder = String(d.minutes);
    var day = el.dayStart.value + "–" + el.dayEnd.value;
    box.querySelector(".cv-edit-help").textContent = t(
      "服务时长不填则按 {n} 分钟（{source}）。填写到访时段后，整个服务都在时段内完成；时段须在工作时间 {day} 之内。",
      { n: d.minutes, source: d.source, day: day }
    );
  }

  function fillEditor(id, box) {
    var c = stopSettings(id);
    [["service", ".cv-edit-service"], ["from", ".cv-edit-from"], ["to", ".cv-edit-to"]]
      .forEach(function (pair) {
        var input = box.querySelector(pair[1]);
        // "?": the input itself holds the bad entry; keep it for the officer to correct.
        if (c[pair[0]] !== "?") input.value = c[pair[0]];
        input.removeAttribute("aria-invalid");
      });
    box.querySelector(".cv-edit-error").hidden = true;
    editorHelp(id, box);
  }

  // Make a stop's row visible: its kind shown, the search cleared if it hides it, its
  // town opened.
  function revealItem(id) {
    var li = itemOf(id);
    if (!li) return null;
    if (li.hidden) {
      var s = BY_ID[id];
      state.kinds[s.kind] = true;
      if (!matches(s)) {
        state.query = "";
        el.search.value = "";
        state.onlySelected = false;
      }
      applyFilter();
    }
    var section = li.closest(".cv-town");
    section.querySelector(".cv-town-toggle").setAttribute("aria-expanded", "true");
    section.querySelector(".cv-items").hidden = false;
    return li;
  }

  function openEditor(id) {
    if (state.selected[id] === undefined) return null;
    var li = revealItem(id);
    if (!li) return null;
    var box = li.querySelector(".cv-edit");
    if (!box) {
      box = buildEditor(BY_ID[id]);
      li.appendChild(box);
    }
    fillEditor(id, box);
    box.hidden = false;
    li.querySelector(".cv-item-edit").setAttribute("aria-expanded", "true");
    return box;
  }

  function closeEditor(id) {
    var box = editorOf(id);
    if (!box) return;
    box.hidden = true;
    itemOf(id).querySelector(".cv-item-edit").setAttribute("aria-expanded", "false");
  }

  // A stop's editor opened on `problems` ([{field, message}]): the fields marked, the
  // messages shown, the first field focused. Returns the number of problems.
  function markSettings(id, problems) {
    if (!problems.length) return 0;
    var box = openEditor(id);
    if (!box) return problems.length;
    var error = box.querySelector(".cv-edit-error");
    error.textContent = problems.map(function (p) { return p.message; }).join("；");
    error.hidden = false;
    problems.forEach(function (p) {
      box.querySelector(".cv-edit-" + p.field).setAttribute("aria-invalid", "true");
    });
    var first = box.querySelector(".cv-edit-" + problems[0].field);
    if (first.scrollIntoView) first.scrollIntoView({ block: "center" });
    first.focus({ preventScroll: true });
    return problems.length;
  }

  function showSettingsProblems(id) {
    return markSettings(id, settingsProblems(id));
  }

  function stopName(id) {
    var s = BY_ID[id];
    return clip((s && s.name) || id, NAME_MAX);
  }

  // The per-stop part of a request: `service_minutes` (the uniform minutes, or an object
  // once any stop has its own: the API then takes no number, so every stop gets the
  // uniform minutes in it and the own minutes on top) and `time_windows`.
  function settingsBody(body, uniform) {
    var own = {};
    var windows = {};
    body.stops.forEach(function (id) {
      var c = stopSettings(id);
      if (c.service !== "") own[id] = isMinutes(c.service) ? Number(c.service) : c.service;
      if (hasWindow(id)) windows[id] = c.from + "-" + c.to;
    });
    if (Object.keys(own).length) {
      var minutes = {};
      body.stops.forEach(function (id) {
        if (own[id] !== undefined) minutes[id] = own[id];
        else if (uniform) minutes[id] = Number(el.service.value);
      });
      body.service_minutes = minutes;
    } else if (uniform) {
      body.service_minutes = Number(el.service.value);
    }
    if (Object.keys(windows).length) body.time_windows = windows;
  }

  // A plan's request → {uniform, service: {id: minutes}, windows: {id: [from, to]}} for
  // the stops `ids`. Minutes given for every stop are read as the uniform minutes (the
  // most common) with the others as the stops' own: that is how the page sends them, and
  // either reading plans the same.
  function requestSettings(req, ids) {
    var out = { uniform: null, service: {}, windows: {} };
    var minutes = req.service_minutes;
    if (typeof minutes === "number") {
      out.uniform = minutes;
    } else if (minutes && typeof minutes === "object" && !Array.isArray(minutes)) {
      var keyed = ids.filter(function (id) { return isMinutes(minutes[id]); });
      if (ids.length > 1 && keyed.length === ids.length) {
        var counts = {};
        var best = null;
        keyed.forEach(function (id) {
          var v = Number(minutes[id]);
          counts[v] = (counts[v] || 0) + 1;
          if (best === null || counts[v] > counts[best]) best = v;
        });
        out.uniform = best;
      }
      keyed.forEach(function (id) {
        if (Number(minutes[id]) !== out.uniform) out.service[id] = Number(minutes[id]);
      });
    }
    var windows = req.time_windows;
    if (windows && typeof windows === "object") {
      ids.forEach(function (id) {
        var w = windows[id];
        var parts = Array.isArray(w) ? w : typeof w === "string" ? w.split("-") : null;
        if (parts && parts.length === 2) {
          out.windows[id] = [String(parts[0]).trim(), String(parts[1]).trim()];
        }
      });
    }
    return out;
  }

  // -- the map: stops to choose from, the depot ----------------------------------------

  function stopIcon(s) {
    var on = state.selected[s.id] !== undefined;
    var wrap = h("span", "cv-marker-dot");
    wrap.style.background = (KIND[s.kind] || {}).colour || "#666";
    if (on) wrap.textContent = "\u2713";
    return L.divIcon({
      className: "cv-marker cv-kind-" + s.kind + (on ? " is-selected" : "") +
        (isSchematic(s) ? " is-schematic" : ""),
      html: wrap,
      iconSize: [44, 44],
      iconAnchor: [22, 22],
      tooltipAnchor: [0, -14],
    });
  }

  function tooltipOf(s) {
    var box = h("span", "cv-tip");
    box.appendChild(dataText("strong", null, s.name || s.id, NAME_MAX));
    var line = ((KIND[s.kind] || {}).label || s.kind) + " · " + townName(s);
    if (isSchematic(s)) line += t(" · 示意位置");
    box.appendChild(h("span", "cv-tip-line", line));
    var on = state.selected[s.id] !== undefined;
    if (on && hasSettings(s.id)) {
      var c = stopSettings(s.id);
      var own = [];
      if (c.service !== "") own.push(t("服务 {n} 分钟", { n: clip(c.service, 6) }));
      if (hasWindow(s.id)) own.push(t("时段 {from}–{to}", { from: clip(c.from, 8), to: clip(c.to, 8) }));
      box.appendChild(h("span", "cv-tip-line", t("单独设置：") + own.join(" · ")));
    }
    box.appendChild(h("span", "cv-tip-line cv-tip-state", on ? t("已选中，点击取消") : t("点击选中")));
    return box;
  }

  function buildMarkers() {
    state.candidates = L.layerGroup().addTo(state.map);
    STOPS.forEach(function (s) {
      var label = isolate(clip(s.name || s.id, NAME_MAX));
      var marker = L.marker([s.lat, s.lon], {
        icon: stopIcon(s),
        title: label,
        alt: label,
        keyboard: true,
        riseOnHover: true,
      });
      marker.bindTooltip(function () { return tooltipOf(s); }, { direction: "top" });
      marker.on("click", function () {
        toggle(s.id);
        marker.closeTooltip();
      });
      state.markers[s.id] = marker;
    });
    syncMarkers();
    drawDepot();
  }

  function syncMarker(id) {
    var marker = state.markers[id];
    if (!marker) return;
    var s = BY_ID[id];
    var show = id !== state.depot && (state.selected[id] !== undefined || matches(s));
    if (show) {
      marker.setIcon(stopIcon(s));
      if (!state.candidates.hasLayer(marker)) state.candidates.addLayer(marker);
    } else if (state.candidates.hasLayer(marker)) {
      state.candidates.removeLayer(marker);
    }
  }

  function syncMarkers() {
    if (!state.candidates) return;
    STOPS.forEach(function (s) { syncMarker(s.id); });
  }

  function drawDepot() {
    if (!state.map) return;
    if (state.depotMarker) state.map.removeLayer(state.depotMarker);
    state.depotMarker = null;
    var d = BY_ID[state.depot];
    if (!d) return;
    var badge = h("span", "map-badge cv-depot-badge", t("基"));
    var label = isolate(clip(d.name, NAME_MAX));
    state.depotMarker = L.marker([d.lat, d.lon], {
      icon: L.divIcon({ className: "map-badge-icon cv-depot", html: badge, iconSize: [34, 34], iconAnchor: [17, 17] }),
      title: t("出发基地：") + label,
      alt: t("出发基地：") + label,
      zIndexOffset: 2000,
      keyboard: false,
    });
    var tip = h("span", "cv-tip");
    tip.appendChild(h("span", "cv-tip-line", t("出发基地")));
    tip.appendChild(dataText("strong", null, d.name, NAME_MAX));
    state.depotMarker.bindTooltip(tip, { direction: "top" }).addTo(state.map);
  }

  // -- settings ------------------------------------------------------------------------

  function buildDepots() {
    clear(el.depot);
    var stations = STOPS.filter(function (s) { return s.station; });
    var kinds = (cfg.kinds || []).map(function (k) { return k[0]; });
    // The caravan's bases first, then every other located station by kind.
    kinds.sort(function (a, b) {
      return (a === "caravan_base" ? -1 : 0) - (b === "caravan_base" ? -1 : 0);
    });
    kinds.forEach(function (kind) {
      var rows = stations.filter(function (s) { return s.kind === kind; });
      if (!rows.length) return;
      var group = h("optgroup");
      group.label = (KIND[kind] || {}).label || kind;
      rows.forEach(function (s) {
        var town = townName(s);
        var text = String(s.name).indexOf(town) >= 0 ? s.name : s.name + "（" + town + "）";
        var option = h("option", null, clip(text, NAME_MAX));
        option.value = s.id;
        option.setAttribute("dir", "auto");
        group.appendChild(option);
      });
      el.depot.appendChild(group);
    });
    if (state.depot && BY_ID[state.depot]) el.depot.value = state.depot;
    else if (el.depot.options.length) state.depot = el.depot.value;
    el.depot.addEventListener("change", function () {
      var previous = state.depot;
      state.depot = el.depot.value;
      deselect(state.depot, true); // the base is where each day starts, not a stop
      syncMarker(previous);
      syncMarker(state.depot);
      drawDepot();
      applyFilter();
    });
  }

  function bindSettings() {
    el.form.addEventListener("submit", function (ev) {
      ev.preventDefault(); // Enter in a field plans, it never navigates
      plan();
    });
    Array.prototype.forEach.call(el.form.querySelectorAll(".cv-step"), function (btn) {
      btn.addEventListener("click", function () {
        var v = parseInt(el.days.value, 10) || 1;
        v = Math.min(LIMITS.days, Math.max(1, v + Number(btn.getAttribute("data-step"))));
        el.days.value = String(v);
        updateCounts();
      });
    });
    el.service.addEventListener("focus", function () {
      el.form.querySelector("input[name=service][value=uniform]").checked = true;
      syncDefaults();
    });
    el.form.addEventListener("input", function (ev) {
      if (ev.target && ev.target.removeAttribute) ev.target.removeAttribute("aria-invalid");
      // The uniform minutes and the working day are what the stops' own settings are
      // shown and checked against.
      syncDefaults();
      updateCounts();
    });
  }

  // The request body from the page; `check`: null, with the reasons shown, when the page
  // already knows the server would refuse it.
  function buildBody(check) {
    var body = { depot: state.depot, stops: selectedIds() };
    body.days = Number(el.days.value);
    if (el.startDate.value) body.start_date = el.startDate.value;
    body.skip_days_off = el.skip.checked;
    body.day_start = el.dayStart.value;
    body.day_end = el.dayEnd.value;
    body.lunch_minutes = el.lunch.value === "" ? 0 : Number(el.lunch.value);
    var uniform = uniformChosen();
    settingsBody(body, uniform);
    var optional = {};
    body.stops.forEach(function (id) {
      if (state.selected[id] > 0) optional[id] = state.selected[id];
    });
    if (Object.keys(optional).length) body.optional = optional;
    if (!check) return body;

    if (!body.stops.length) {
      showTab("stops");
      stopNotice(t("请先选择要走访的站点"), t("在列表中勾选，或点地图上的圆点。"));
      return null;
    }
    var problems = [];
    function bad(field, message) {
      fieldError(field);
      problems.push(message);
    }
    if (!body.depot) bad("depot", t("请选择出发基地"));
    if (!Number.isInteger(body.days) || body.days < 1 || body.days > LIMITS.days) {
      bad("days", t("可用天数应为 1–{max} 的整数", { max: LIMITS.days }));
    }
    if (!body.day_start) bad("day_start", t("请填写出发时间"));
    if (!body.day_end) bad("day_end", t("请填写收工时间"));
    if (body.day_start && body.day_end && body.day_end <= body.day_start) {
      bad("day_end", t("收工时间应晚于出发时间"));
    }
    var lunch = body.lunch_minutes;
    if (!Number.isInteger(lunch) || lunch < 0 || lunch > LIMITS.lunch_minutes) {
      bad("lunch_minutes", t("午餐时长应为 0–{max} 分钟的整数", { max: LIMITS.lunch_minutes }));
    }
    if (uniform && !isMinutes(el.service.value)) {
      bad("service_minutes", t("服务时长应为 0–{max} 分钟的整数", { max: LIMITS.service_minutes }));
    }
    if (problems.length) {
      settingsNotice(t("请先修改：") + problems[0], problems.slice(1).join("；"));
      return null;
    }
    // The stops' own settings, checked once the working day is right.
    var wrong = body.stops.filter(function (id) { return settingsProblems(id).length; });
    if (wrong.length) {
      showTab("stops");
      var first = settingsProblems(wrong[0]);
      var more = wrong.slice(1, 6).map(stopName).join("、") + (wrong.length > 6 ? t(" 等") : "");
      stopNotice(t("请先修改站点“{name}”的单独设置：", { name: stopName(wrong[0]) }) + first[0].message,
        wrong.length > 1 ? t("另有 {n} 个站点的单独设置也需修改：", { n: wrong.length - 1 }) + more : "");
      markSettings(wrong[0], first);
      return null;
    }
    return body;
  }

  function fieldError(field) {
    var id = (FIELDS[field] || [])[1];
    var input = id ? document.getElementById(id) : null;
    if (input) input.setAttribute("aria-invalid", "true");
    return input;
  }

  function settingsNotice(title, detail) {
    showTab("settings");
    clear(el.settingsNotices);
    notice(el.settingsNotices, "error", title, detail);
  }

  // -- planning ------------------------------------------------------------------------

  function setBusy(busy) {
    state.busy = busy;
    document.body.classList.toggle("is-busy", busy);
    el.planBtn.textContent = busy ? t("正在规划…") : t("规划路线");
    el.panel.setAttribute("aria-busy", busy ? "true" : "false");
    updateCounts();
  }

  function progress(started, count) {
    clear(el.status);
    el.status.className = "cv-status is-busy";
    var spinner = h("span", "cv-spinner");
    spinner.setAttribute("aria-hidden", "true");
    el.status.appendChild(spinner);
    var text = h("span", null);
    el.status.appendChild(text);
    // The plan is a job on the server: its progress, once it is known; a button stops it.
    var cancel = h("button", "cv-cancel", t("取消规划"));
    cancel.type = "button";
    cancel.hidden = true;
    el.status.appendChild(cancel);
    state.job = null;
    cancel.addEventListener("click", function () {
      if (!state.job) return;
      cancel.disabled = true;
      gs.fetchJson(state.job.url, { method: "DELETE" });
    });
    function tick() {
      if (state.job) {
        text.textContent = gs.jobText(state.job.body);
        return;
      }
      var s = Math.floor((Date.now() - started) / 1000);
      text.textContent = t("正在计算 {n} 个站点之间的车程并搜索最优路线… 已用 {s} 秒", { n: count, s: s });
    }
    tick();
    state.timer = window.setInterval(tick, 1000);
    return function (job, url) {
      state.job = { body: job, url: url };
      cancel.hidden = job.state !== "queued" && job.state !== "running";
      tick();
    };
  }

  async function plan() {
    if (state.busy) return;
    clear(el.planNotices);
    clear(el.settingsNotices);
    var body = buildBody(true);
    if (!body) return;
    var sent = JSON.stringify(body);
    showTab("plan");
    setBusy(true);
    clearPlan();
    var onJob = progress(Date.now(), body.stops.length);
    var answer = await gs.fetchJson(cfg.api.plan, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: sent,
    });
    var retry = answer.headers && answer.headers.get("Retry-After");
    answer = await gs.followJob(answer, { onJob: onJob });
    window.clearInterval(state.timer);
    state.job = null;
    setBusy(false);
    if (answer.status === 200 && answer.body && answer.body.result) {
      state.planned = sent;
      showPlan(answer.body);
      state.savedLoaded = false; // the list has one more
    } else {
      showError(answer.status, answer.body, (answer.headers && answer.headers.get("Retry-After")) || retry, body);
    }
  }

  function showError(status, answer, retry, body) {
    gs.setStatus(el.status, t("规划失败。"), "error");
    clear(el.planNotices);
    var a = answer || {};
    var zh = gs.apiMessage(a)[0];
    var stops = Array.isArray(a.stops) ? a.stops : [];
    if (status === 422 && a.days_needed) {
      var box = notice(el.planNotices, "error",
        t("{days} 天内排不下全部必选站点，大约需要 {needed} 天", { days: body.days, needed: a.days_needed }), zh);
      var actions = h("div", "cv-actions");
      if (a.days_needed <= LIMITS.days) {
        var more = h("button", "cv-btn cv-btn-primary", t("改为 {n} 天并重新规划", { n: a.days_needed }));
        more.type = "button";
        more.addEventListener("click", function () {
          el.days.value = String(a.days_needed);
          plan();
        });
        actions.appendChild(more);
      }
      actions.appendChild(h("span", "cv-help",
        t("也可以延长每天的工作时间，或把部分站点设为“可选”。")));
      box.appendChild(actions);
      if (stops.length) box.appendChild(stopList(stops, t("未能排入的必选站点"), 8));
    } else if (status === 422 && stops.length) {
      var refused = notice(el.planNotices, "error", t("以下 {n} 个站点无法安排", { n: stops.length }), zh);
      refused.appendChild(stopList(stops, null));
      var known = stops.filter(function (s) { return state.selected[s.id] !== undefined; });
      if (known.length) {
        var drop = h("button", "cv-btn cv-btn-primary", t("取消选择这些站点"));
        drop.type = "button";
        drop.addEventListener("click", function () {
          known.forEach(function (s) { deselect(s.id, true); });
          selectionChanged();
          clear(el.planNotices);
          notice(el.planNotices, "info", t("已取消选择 {n} 个站点", { n: known.length }),
            t("可以再次点“规划路线”。"));
        });
        var row = h("div", "cv-actions");
        row.appendChild(drop);
        refused.appendChild(row);
      }
    } else if (status === 422) {
      notice(el.planNotices, "error", t("无法按要求规划"), zh);
    } else if (status === 400 && stopParameter(a.parameter)) {
      var which = stopParameter(a.parameter);
      var what = which.field === "service" ? t("服务时长") : t("到访时段");
      notice(el.planNotices, "error", t("请求有误（站点“{name}”的{what}）", { name: stopName(which.id), what: what }), zh);
      showTab("stops");
      stopNotice(t("请修改站点“{name}”的{what}", { name: stopName(which.id), what: what }), zh);
      markSettings(which.id, [{ field: which.field, message: zh }]);
    } else if (status === 400) {
      var field = String(a.parameter || "").split(".")[0];
      var label = (FIELDS[field] || [a.parameter || t("请求")])[0];
      notice(el.planNotices, "error", t("请求有误（{what}）", { what: label }), zh);
      if (fieldError(field)) settingsNotice(t("请修改{what}", { what: label }), zh);
    } else if (status === 413) {
      notice(el.planNotices, "error", t("请求过大"), t("请减少站点后再试。"));
    } else {
      var text = gs.errorText(status, answer, retry);
      notice(el.planNotices, "error", text[0], text[1]);
    }
  }

  // A 400's `parameter` naming one stop's own setting (service_minutes.<id>,
  // time_windows.<id>): {id, field} of the editor's field to mark, else null. Minutes the
  // stop got from the uniform field are that field's problem, not the stop's.
  function stopParameter(parameter) {
    var text = String(parameter || "");
    var cut = text.indexOf(".");
    if (cut < 0) return null;
    var name = text.slice(0, cut);
    var id = text.slice(cut + 1);
    if (state.selected[id] === undefined) return null;
    if (name === "time_windows") return { id: id, field: "from" };
    if (name === "service_minutes" && stopSettings(id).service !== "") {
      return { id: id, field: "service" };
    }
    return null;
  }

  function stopList(stops, title, most) {
    var limit = most || 50;
    var wrap = h("div", "cv-problems");
    if (title) wrap.appendChild(h("p", "cv-problems-title", title));
    var list = h("ul", "cv-problem-list");
    stops.slice(0, limit).forEach(function (s) {
      var li = h("li");
      var known = BY_ID[s.id];
      li.appendChild(dataText("strong", null, s.name || (known && known.name) || s.id, NAME_MAX));
      li.appendChild(dataText("span", "cv-problem-id", s.id, NAME_MAX));
      li.appendChild(dataText("span", "cv-problem-reason", gs.splitMessage(s.reason)[0], TEXT_MAX));
      if (known && state.selected[s.id] !== undefined && hasSettings(s.id)) {
        // Its own window or minutes may be why: offer them for change.
        var change = h("button", "cv-btn cv-problem-edit", t("修改本站单独设置"));
        change.type = "button";
        change.addEventListener("click", function () {
          showTab("stops");
          var box = openEditor(s.id);
          if (box) {
            box.scrollIntoView({ block: "center" });
            box.querySelector(".cv-edit-service").focus({ preventScroll: true });
          }
        });
        li.appendChild(change);
      }
      list.appendChild(li);
    });
    wrap.appendChild(list);
    if (stops.length > limit) {
      wrap.appendChild(h("p", "cv-help", t("…另有 {n} 个", { n: stops.length - limit })));
    }
    return wrap;
  }

  // -- the plan: map layers ------------------------------------------------------------

  function clearPlan() {
    if (state.planLayer) state.planLayer.clearLayers();
    state.dayLayers = {};
    state.plan = null;
    state.focusDay = 0;
    clear(el.result);
    if (state.map) state.map.getContainer().classList.remove("has-plan");
  }

  function numberIcon(day, seq, colour, schematic) {
    var badge = h("span", "map-badge cv-stop-badge", seq);
    badge.style.background = colour;
    badge.style.color = inkOn(colour);
    return L.divIcon({
      className: "map-badge-icon cv-stop cv-stop-day-" + day + (schematic ? " is-schematic" : ""),
      html: badge,
      iconSize: [30, 30],
      iconAnchor: [15, 15],
      tooltipAnchor: [0, -12],
    });
  }

  function drawDay(day, bounds) {
    var style = dayStyle(day.day);
    var layers = [];
    var coords = (day.route && day.route.geometry && day.route.geometry.coordinates) || [];
    var latlngs = coords.map(function (c) { return [c[1], c[0]]; });
    if (latlngs.length > 1) {
      var casing = L.polyline(latlngs, {
        color: "#ffffff", weight: 9, opacity: 0.9, interactive: false,
        className: "cv-route-casing cv-route-casing-" + day.day,
        lineJoin: "round", lineCap: "round",
      });
      var line = L.polyline(latlngs, {
        color: style.colour, weight: 5, opacity: 0.95, dashArray: style.dash, interactive: false,
        className: "cv-route cv-route-day-" + day.day,
        lineJoin: "round", lineCap: "round",
      });
      layers.push(casing, line);
      bounds.extend(line.getBounds());
    }
    (day.stops || []).forEach(function (s) {
      var label = t("第 {day} 天第 {seq} 站：", { day: day.day, seq: s.seq }) + isolate(clip(s.name, NAME_MAX));
      var marker = L.marker([s.lat, s.lon], {
        icon: numberIcon(day.day, s.seq, style.colour, isSchematic(s)),
        title: label,
        alt: label,
        zIndexOffset: 1500,
        riseOnHover: true,
      });
      var tip = h("span", "cv-tip");
      tip.appendChild(h("span", "cv-tip-line", t("第 {day} 天 · 第 {seq} 站", { day: day.day, seq: s.seq })));
      tip.appendChild(dataText("strong", null, s.name, NAME_MAX));
      tip.appendChild(h("span", "cv-tip-line", s.start + "–" + s.end +
        (Array.isArray(s.window) ? t(" · 时段 {window}", { window: s.window.join("–") }) : "") +
        (isSchematic(s) ? t(" · 示意位置") : "")));
      marker.bindTooltip(tip, { direction: "top" });
      marker.on("click", function () {
        showTab("plan");
        focusDay(day.day, false);
        var row = el.result.querySelector(
          '.cv-day[data-day="' + day.day + '"] tr[data-seq="' + s.seq + '"]');
        if (row) {
          Array.prototype.forEach.call(el.result.querySelectorAll("tr.is-current"), function (r) {
            r.classList.remove("is-current");
          });
          row.classList.add("is-current");
          if (row.scrollIntoView) row.scrollIntoView({ block: "center", behavior: "smooth" });
        }
      });
      layers.push(marker);
      bounds.extend(marker.getLatLng());
    });
    layers.forEach(function (layer) { state.planLayer.addLayer(layer); });
    state.dayLayers[day.day] = layers;
  }

  function focusDay(n, fit) {
    state.focusDay = state.focusDay === n && fit ? 0 : n;
    Object.keys(state.dayLayers).forEach(function (key) {
      var on = !state.focusDay || Number(key) === state.focusDay;
      state.dayLayers[key].forEach(function (layer) {
        if (layer.setStyle) {
          var casing = (layer.options.className || "").indexOf("casing") >= 0;
          layer.setStyle({ opacity: on ? (casing ? 0.9 : 0.95) : 0.15 });
          if (on) layer.bringToFront();
        } else if (layer.setOpacity) {
          layer.setOpacity(on ? 1 : 0.3);
        }
      });
    });
    Array.prototype.forEach.call(el.result.querySelectorAll(".cv-day"), function (section) {
      var on = Number(section.getAttribute("data-day")) === state.focusDay;
      section.classList.toggle("is-focused", on);
      section.querySelector(".cv-day-head").setAttribute("aria-pressed", on ? "true" : "false");
    });
    if (fit && state.map) {
      var bounds = L.latLngBounds([]);
      var keys = state.focusDay ? [state.focusDay] : Object.keys(state.dayLayers);
      keys.forEach(function (key) {
        (state.dayLayers[key] || []).forEach(function (layer) {
          if (layer.getBounds) bounds.extend(layer.getBounds());
          else if (layer.getLatLng) bounds.extend(layer.getLatLng());
        });
      });
      fitMap(bounds);
    }
  }

  function fitMap(bounds) {
    var map = state.map;
    if (!map || !bounds.isValid()) return;
    if (map._animatingZoom) {
      // A zoom animation (folium's own first fit, say) ends on its own target: over a
      // view set meanwhile. Fit once it has ended.
      map.once("zoomend", function () { fitMap(bounds); });
      return;
    }
    // The panel's content changes the map's size only after the next layout:
    // invalidateSize() reads it now.
    map.invalidateSize({ pan: false });
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16, animate: false });
  }

  // -- the plan: panel -----------------------------------------------------------------

  function showPlan(saved, reopened) {
    clearPlan();
    state.plan = saved;
    var result = saved.result || {};
    var days = Array.isArray(result.days) ? result.days : [];
    var s = result.summary || {};
    el.status.className = "cv-status is-done";
    clear(el.status);
    el.status.appendChild(h("strong", null, reopened ? t("已保存的方案") : t("方案已生成并保存")));
    el.status.appendChild(h("span", "cv-plan-id",
      t(" 编号 {id}", { id: saved.id }) + (saved.created ? " · " + String(saved.created).slice(0, 16).replace("T", " ") : "")));
    planNotices(result);

    var grid = h("dl", "cv-summary");
    [
      [t("用时"), t("{used} / {available} 天", { used: s.days_used, available: s.days_available })],
      [t("站点"), s.stops_served + " / " + s.stops_requested],
      [t("里程"), kmText(s.distance_km)],
      [t("车程"), hoursText(s.drive_hours)],
      [t("服务"), hoursText(s.service_hours)],
    ].forEach(function (pair) {
      var cell = h("div", "cv-summary-cell");
      cell.appendChild(h("dt", null, pair[0]));
      cell.appendChild(h("dd", null, pair[1]));
      grid.appendChild(cell);
    });
    el.result.appendChild(grid);
    el.result.appendChild(downloads(saved.id));

    // Which stops had minutes of their own (the schedule marks them).
    var planIds = [];
    days.forEach(function (d) { (d.stops || []).forEach(function (x) { planIds.push(x.id); }); });
    (Array.isArray(result.unserved) ? result.unserved : []).forEach(function (x) {
      planIds.push(x.id);
    });
    var own = requestSettings(saved.request || {}, planIds).service;
    var bounds = L.latLngBounds([]);
    days.forEach(function (day) {
      el.result.appendChild(daySection(result, day, own));
      if (state.planLayer) drawDay(day, bounds);
    });
    if (!days.length) {
      notice(el.planNotices, "empty", t("没有可以安排的站点"), t("所选站点都无法到达或没有坐标（见下方未安排列表）。"));
    }
    var unserved = Array.isArray(result.unserved) ? result.unserved : [];
    if (unserved.length) el.result.appendChild(unservedSection(unserved));
    var reuse = h("button", "cv-btn", t("按此方案的设置修改后重新规划"));
    reuse.type = "button";
    reuse.addEventListener("click", function () {
      applyRequest(saved.request || {});
      // The page now asks what this plan answers: any change shows as one.
      state.planned = JSON.stringify(buildBody(false));
      updateCounts();
      showTab("stops");
    });
    var row = h("div", "cv-actions");
    row.appendChild(reuse);
    el.result.appendChild(row);
    if (state.map) {
      state.map.getContainer().classList.add("has-plan");
      fitMap(bounds);
    }
    if (PLAN_ID.test(saved.id) && window.history && history.replaceState) {
      history.replaceState(null, "", "#plan=" + saved.id);
    }
    updateCounts();
  }

  function planNotices(result) {
    clear(el.planNotices);
    if (result.schematic) {
      notice(el.planNotices, "warn", t("示意路网：车程和里程仅供参考"),
        t("道路由基础数据生成，并非实测道路。"));
    }
    (result.notices || []).forEach(function (n) {
      notice(el.planNotices, "info", t("请注意"), gs.lang() === "en" ? n.en : n.zh);
    });
    var positions = (result.summary || {}).schematic_positions || 0;
    if (positions) {
      notice(el.planNotices, "warn", t("{n} 个站点为示意位置", { n: positions }),
        t("位置由路网推算，并非实测坐标；出发前请核实。"));
    }
    var days = result.days || [];
    var sample = days.some(function (d) {
      return (d.stops || []).some(function (s) { return BY_ID[s.id] && BY_ID[s.id].sample; });
    });
    if (sample) notice(el.planNotices, "info", t("示例数据"), t("部分站点为演示用样例。"));
    var search = result.search || {};
    if (search.reproducible === false) {
      notice(el.planNotices, "info", t("计算达到时间上限"), t("方案可用，但可能不是最优；可稍后重新规划。"));
    }
    var unserved = (result.unserved || []).length;
    if (unserved) {
      notice(el.planNotices, "info", t("{n} 个站点未安排", { n: unserved }), t("原因见方案末尾的列表。"));
    }
  }

  function downloads(id) {
    var box = h("div", "cv-downloads");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", t("下载"));
    if (!PLAN_ID.test(String(id))) return box;
    FORMATS.forEach(function (f) {
      var a = h("a", "cv-download cv-download-" + f[0]);
      a.href = cfg.api.tours + "/" + id + "." + f[0];
      a.appendChild(h("strong", null, f[1]));
      a.appendChild(h("span", null, f[2]));
      if (f[0] === "html") {
        a.target = "_blank";
        a.rel = "noopener";
      } else {
        a.setAttribute("download", "");
      }
      box.appendChild(a);
    });
    return box;
  }

  function daySection(result, day, own) {
    var style = dayStyle(day.day);
    var section = h("section", "cv-day");
    section.setAttribute("data-day", String(day.day));
    section.style.setProperty("--day-colour", style.colour);
    var head = h("button", "cv-day-head");
    head.type = "button";
    head.setAttribute("aria-pressed", "false");
    var swatch = h("span", "cv-swatch" + (style.dash ? " is-dashed" : ""));
    swatch.setAttribute("aria-hidden", "true");
    head.appendChild(swatch);
    var when = [day.date, day.weekday && t(day.weekday)].filter(Boolean).join(" ");
    var title = h("span", "cv-day-title",
      t("第 {n} 天", { n: day.day }) + (when ? " · " + when : ""));
    head.appendChild(title);
    var tot = day.totals || {};
    head.appendChild(h("span", "cv-day-meta", t("{depart} 出发 · {back} 返回 · {n} 站 · {km} · 车程 {drive}", {
      depart: day.depart, back: day.return, n: tot.stops, km: kmText(tot.distance_km),
      drive: minutesText(tot.drive_min),
    })));
    head.addEventListener("click", function () { focusDay(day.day, true); });
    section.appendChild(head);
    var wrap = h("div", "cv-table-wrap");
    var table = h("table", "cv-schedule");
    var caption = h("caption", "sr-only", t("第 {n} 天日程", { n: day.day }));
    table.appendChild(caption);
    var thead = h("thead");
    var tr = h("tr");
    ["#", t("地点与导航"), t("时间"), t("车程")].forEach(function (x) {
      var th = h("th", null, x);
      th.scope = "col";
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    table.appendChild(thead);
    var body = h("tbody");
    scheduleRows(result.depot || {}, day, style, own || {}).forEach(function (row) {
      body.appendChild(row);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    section.appendChild(wrap);
    return section;
  }

  function legCell(leg) {
    var cell = h("td", "cv-leg");
    if (!leg) return cell;
    cell.appendChild(h("span", null, minutesText(leg.drive_min)));
    cell.appendChild(h("span", "cv-sub", kmText((leg.distance_m || 0) / 1000)));
    return cell;
  }

  // Arrival, the wait before the service (a line of its own: a window makes waits common,
  // and the column stays narrow on a phone), the service or event.
  function timeCell(arrival, service, wait) {
    var cell = h("td", "cv-time");
    if (arrival) cell.appendChild(h("span", "cv-sub", arrival));
    if (wait) cell.appendChild(h("span", "cv-sub cv-wait", wait));
    if (service) cell.appendChild(h("span", null, service));
    return cell;
  }

  function navLinks(nav, name) {
    var cell = h("span", "cv-nav");
    [["amap", t("高德")], ["baidu", t("百度")]].forEach(function (spec) {
      var url = gs.safeHttpUrl((nav || {})[spec[0]]);
      if (!url) return;
      var a = h("a", "cv-nav-btn cv-nav-" + spec[0], spec[1]);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.setAttribute("aria-label", t("{app}导航到 {name}", { app: spec[1], name: isolate(clip(name, NAME_MAX)) }));
      cell.appendChild(a);
    });
    return cell;
  }

  function row(kind, cells) {
    var tr = h("tr", "cv-row-" + kind);
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }

  function td(text, className) {
    return h("td", className || null, text);
  }

  function placeCell(name, extra, nav) {
    var cell = h("td", "cv-place");
    cell.appendChild(dataText("span", "cv-place-name", name, NAME_MAX));
    (extra || []).forEach(function (x) { if (x) cell.appendChild(x); });
    if (nav) cell.appendChild(nav);
    return cell;
  }

  // The rows of one day's schedule; `own`: id → minutes of the stops that had their own.
  function scheduleRows(depot, day, style, own) {
    var rows = [];
    var legs = day.legs || [];
    var lunch = day.lunch;
    var legI = 0;
    function lunchRow(leg) {
      return row("lunch", [
        td(t("午")),
        placeCell(lunch.name, [h("span", "cv-place-note",
          t("午餐 · ") + (lunch.place_label || "") + " · " + minutesText(lunch.minutes))]),
        timeCell("", lunch.start + "–" + lunch.end),
        legCell(leg),
      ]);
    }
    if (lunch && lunch.place === "start") rows.push(lunchRow(null));
    rows.push(row("depot", [td(t("起")), placeCell(depot.name, [h("span", "cv-place-note", t("出发基地"))],
      navLinks(depot.navigation, depot.name)), timeCell("", t("{time} 出发", { time: day.depart })), legCell(null)]));
    (day.stops || []).forEach(function (s) {
      var leg = legs[legI];
      legI += 1;
      var seq = h("td", "cv-seq");
      var badge = h("span", "cv-seq-badge", s.seq);
      badge.style.background = style.colour;
      badge.style.color = inkOn(style.colour);
      seq.appendChild(badge);
      var notes = [h("span", "cv-place-note", (s.kind_label ? t(s.kind_label) : "") + (s.town ? " · " + s.town : ""))];
      if (isSchematic(s)) notes.push(h("span", "cv-tag cv-tag-schematic", t("示意位置")));
      if (s.optional) notes.push(h("span", "cv-tag", t("可选 {priority}", { priority: s.priority || "" })));
      if (Array.isArray(s.window)) {
        notes.push(h("span", "cv-tag cv-tag-window", t("到访时段 {window}", { window: s.window.join("–") })));
      }
      if (own[s.id] !== undefined) {
        notes.push(h("span", "cv-tag cv-tag-custom", t("单独设定 {time}", { time: minutesText(s.service_min) })));
      }
      var service = s.start + "–" + s.end;
      var wait = s.wait_min > 0 ? t("等 {time}", { time: minutesText(s.wait_min) }) : "";
      var tr = row("stop", [seq, placeCell(s.name, notes, navLinks(s.navigation, s.name)),
        timeCell(t("{time} 到", { time: s.arrival }), service, wait), legCell(leg)]);
      tr.setAttribute("data-seq", String(s.seq));
      rows.push(tr);
      if (lunch && lunch.after_seq === s.seq && (lunch.place === "stop" || lunch.place === "depot")) {
        var back = null;
        if (lunch.place === "depot") {
          back = legs[legI];
          legI += 1;
        }
        rows.push(lunchRow(back));
      }
    });
    rows.push(row("depot", [td(t("终")), placeCell(depot.name, [h("span", "cv-place-note", t("返回基地"))]),
      timeCell("", t("{time} 返回", { time: day.return })), legCell(legs[legI])]));
    if (lunch && lunch.place === "end") rows.push(lunchRow(null));
    var tot = day.totals || {};
    var total = h("td", "cv-total", t("合计 {n} 站 · {km} · 车程 {drive} · 服务 {service}", {
      n: tot.stops, km: kmText(tot.distance_km), drive: minutesText(tot.drive_min),
      service: minutesText(tot.service_min),
    }) + (tot.wait_min ? t(" · 等待 {wait}", { wait: minutesText(tot.wait_min) }) : "") +
      t(" · 工作 {work}", { work: minutesText(tot.working_min) }));
    total.colSpan = 4;
    rows.push(row("total", [total]));
    return rows;
  }

  function unservedSection(unserved) {
    var section = h("section", "cv-unserved");
    section.appendChild(h("h2", "cv-h2", t("未安排的站点（{n}）", { n: unserved.length })));
    section.appendChild(stopList(unserved, null));
    return section;
  }

  // -- a saved plan's request back into the page ---------------------------------------

  function townCode(token) {
    var t = String(token);
    var codes = Object.keys(TOWN_NAMES);
    for (var i = 0; i < codes.length; i += 1) {
      var name = TOWN_NAMES[codes[i]];
      if (t === codes[i] || t === name) return codes[i];
      var short = name.replace(/(街道|地区|镇|乡)$/, "");
      if (short && short !== name && t === short) return codes[i];
    }
    return null;
  }

  // The ids a stop selector selects, as the planner resolves it (geoservice/tours/request.py):
  // a kind, a town (its sites), TOWN:KIND, or an id; the depot never.
  function selectorIds(token, depot) {
    var t = String(token);
    var kind = KIND[t] ? t : null;
    var town = null;
    var m = /^(.+)[:：]([^:：]+)$/.exec(t);
    if (!kind && m && KIND[m[2].trim()]) {
      kind = m[2].trim();
      town = townCode(m[1].trim());
      if (!town) return [];
    } else if (!kind) {
      town = townCode(t);
      if (!town) return BY_ID[t] && t !== depot ? [t] : [];
    }
    return STOPS.filter(function (s) {
      if (s.id === depot) return false;
      if (kind ? s.kind !== kind : s.station) return false;
      return !town || s.town_code === town;
    }).map(function (s) { return s.id; });
  }

  function applyRequest(req) {
    var tokens = Array.isArray(req.stops) ? req.stops : [];
    if (req.depot && BY_ID[req.depot]) {
      state.depot = req.depot;
      el.depot.value = req.depot;
      drawDepot();
    }
    Object.keys(state.selected).forEach(function (id) { deselect(id, true); });
    state.custom = {};
    // Each selector selects on its own and the selections add up; optional ones too.
    var optional = req.optional || {};
    var chosen = [];
    tokens.concat(Object.keys(optional)).forEach(function (t) {
      chosen = chosen.concat(selectorIds(t, state.depot));
    });
    chosen.forEach(function (id) {
      if (state.selected[id] !== undefined) return;
      select(id, true);
      state.kinds[BY_ID[id].kind] = true;
    });
    Object.keys(optional).forEach(function (t) {
      selectorIds(t, state.depot).forEach(function (id) {
        if (state.selected[id] === 0) {
          state.selected[id] = Number(optional[t]) || 3;
          syncItem(id);
        }
      });
    });
    if (req.days) el.days.value = String(req.days);
    el.startDate.value = req.start_date || "";
    el.skip.checked = req.skip_days_off !== false;
    if (req.day_start) el.dayStart.value = req.day_start;
    if (req.day_end) el.dayEnd.value = req.day_end;
    if (req.lunch_minutes !== undefined) el.lunch.value = String(req.lunch_minutes);
    var settings = requestSettings(req, selectedIds());
    Object.keys(settings.service).forEach(function (id) {
      state.custom[id] = { service: String(settings.service[id]), from: "", to: "" };
    });
    Object.keys(settings.windows).forEach(function (id) {
      var w = settings.windows[id];
      state.custom[id] = Object.assign({}, stopSettings(id), { from: w[0], to: w[1] });
    });
    var uniform = settings.uniform !== null;
    el.form.querySelector("input[name=service][value=" + (uniform ? "uniform" : "default") + "]")
      .checked = true;
    if (uniform) el.service.value = String(settings.uniform);
    STOPS.forEach(function (s) { closeEditor(s.id); });
    syncDefaults();
    applyFilter();
    selectionChanged();
  }

  // -- saved plans ---------------------------------------------------------------------

  async function loadSaved(more) {
    if (!more) {
      state.savedOffset = 0;
      clear(el.saved);
    }
    el.savedStatus.textContent = t("正在读取已保存的方案…");
    var answer = await gs.fetchJson(cfg.api.tours + "?limit=20&offset=" + state.savedOffset);
    var data = answer.body;
    if (answer.status !== 200 || !data || !Array.isArray(data.plans)) {
      el.savedStatus.textContent = t("无法读取已保存的方案，请稍后重试。");
      return;
    }
    state.savedLoaded = true;
    data.plans.forEach(function (p) { el.saved.appendChild(savedItem(p)); });
    el.savedStatus.textContent = data.total
      ? t("共 {n} 个方案，最新的在前。点一个方案即可打开。", { n: data.total })
      // Anonymous readers see no list (plans are theirs by link only); staff see theirs.
      : t("还没有可查看的方案。未登录时，方案只能用它的链接打开（匿名方案保留 24 小时，请保存链接或下载文件）；工作人员登录后可在这里看到自己保存的方案。");
    state.savedOffset = data.next_offset || 0;
    el.savedMore.hidden = !data.next_offset;
  }

  function savedItem(p) {
    var li = h("li");
    var btn = h("button", "cv-saved-item");
    btn.type = "button";
    btn.setAttribute("data-plan", String(p.id));
    var first = (p.start_date ? t("{date} 起 · ", { date: p.start_date }) : "") +
      t("{days} 天 · {n} 站 · {km}", { days: p.days_used, n: p.stops_served, km: kmText(p.distance_km) });
    btn.appendChild(h("strong", null, first));
    var line = h("span", "cv-saved-meta");
    line.appendChild(h("span", null, t("创建于 {time}", { time: String(p.created || "").slice(0, 16).replace("T", " ") })));
    line.appendChild(dataText("span", null, p.depot, NAME_MAX));
    if (p.unserved) line.appendChild(h("span", null, t("未安排 {n}", { n: p.unserved })));
    if (p.schematic) line.appendChild(h("span", "cv-tag cv-tag-schematic", t("示意路网")));
    btn.appendChild(line);
    btn.addEventListener("click", function () { openPlan(p.id); });
    li.appendChild(btn);
    return li;
  }

  async function openPlan(id) {
    if (!PLAN_ID.test(String(id))) return;
    showTab("plan");
    clearPlan();
    clear(el.planNotices);
    gs.setStatus(el.status, t("正在打开方案 {id}…", { id: id }), "busy");
    var answer = await gs.fetchJson(cfg.api.tours + "/" + id);
    if (answer.status === 200 && answer.body && answer.body.result) {
      state.planned = null;
      showPlan(answer.body, true);
    } else {
      gs.setStatus(el.status, answer.status === 404 ? t("没有找到这个方案（可能已被清理）。") :
        t("无法打开方案，请稍后重试。"), "error");
    }
  }

  // -- start ---------------------------------------------------------------------------

  function bindList() {
    el.kinds.addEventListener("click", function (ev) {
      var chip = ev.target.closest ? ev.target.closest(".cv-chip") : null;
      if (!chip) return;
      var kind = chip.getAttribute("data-kind");
      state.kinds[kind] = !state.kinds[kind];
      state.onlySelected = false; // a kind chosen: the list by kind again
      applyFilter();
    });
    el.search.addEventListener("input", function () {
      state.query = el.search.value.trim().toLowerCase();
      applyFilter();
    });
    el.selectShown.addEventListener("click", function () {
      visibleItems(el.towns).forEach(function (li) { select(li.getAttribute("data-id"), true); });
      selectionChanged();
    });
    el.clearBtn.addEventListener("click", function () {
      Object.keys(state.selected).forEach(function (id) { deselect(id, true); });
      state.custom = {};
      syncDefaults();
      selectionChanged();
    });
    el.onlySelected.addEventListener("click", function () {
      state.onlySelected = !state.onlySelected;
      applyFilter();
    });
    el.planBtn.addEventListener("click", plan);
    el.savedMore.addEventListener("click", function () { loadSaved(true); });
  }

  function startMap(map) {
    state.map = map;
    state.planLayer = L.featureGroup().addTo(map);
    buildMarkers();
    if (state.plan) {
      // A plan opened before the map existed: draw it now.
      showPlan(state.plan, state.planned === null);
    } else {
      var stops = STOPS.filter(function (s) { return matches(s); });
      if (stops.length) {
        fitMap(L.latLngBounds(stops.map(function (s) { return [s.lat, s.lon]; })));
      }
    }
    document.body.classList.add("caravan-ready");
  }

  function init() {
    Object.assign(el, gs.elements({
      panel: "cv-panel",
      body: "cv-body",
      badge: "cv-badge",
      stopNotices: "cv-stop-notices",
      search: "cv-search",
      kinds: "cv-kinds",
      selectShown: "cv-select-shown",
      onlySelected: "cv-only-selected",
      clearBtn: "cv-clear",
      towns: "cv-towns",
      form: "cv-form",
      depot: "cv-depot",
      days: "cv-days",
      startDate: "cv-start-date",
      skip: "cv-skip",
      dayStart: "cv-day-start",
      dayEnd: "cv-day-end",
      lunch: "cv-lunch",
      service: "cv-service",
      status: "cv-status",
      planNotices: "cv-plan-notices",
      result: "cv-result",
      settingsNotices: "cv-settings-notices",
      savedStatus: "cv-saved-status",
      saved: "cv-saved",
      savedMore: "cv-saved-more",
      selection: "cv-selection",
      planBtn: "cv-plan-btn",
    }));
    el.tabs = document.querySelector(".cv-tabs");
    bindTabs();
    buildList();
    buildDepots();
    bindList();
    bindSettings();
    applyFilter();
    selectionChanged();
    gs.onMap(startMap);
    var match = /^#plan=(\d{8}-\d{6}-(?:[0-9a-f]{20}|[0-9a-f]{6}))$/.exec(window.location.hash || "");
    if (match) openPlan(match[1]);
  }

  gs.ready(init);
})();
