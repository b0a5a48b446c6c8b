/*
 * Workers' reports (反馈问题): on the result cards of /nearest and in the station popups of
 * the maps, a worker tells the staff about a problem in two taps, without an account.
 *
 * The markup, written by the server in popups (maps.report_box) and here for cards (box):
 *
 *   <div class="report-box" data-station-id="…">
 *     <p class="report-count">有 N 条待核实反馈</p>        (only when there are open ones)
 *     <button type="button" class="report-open" aria-expanded="false">反馈问题</button>
 *   </div>
 *
 * First tap: the button opens the four problems as big buttons, with an optional note
 * above them. Second tap: a problem sends the report (POST /api/stations/<id>/reports);
 * the box then thanks the worker in the server's words and counts the report. Errors (rate
 * limit, network, a full queue for this phone) are said in Chinese, and the problems stay
 * to try again. Clicks are caught on the document: Leaflet creates a popup's content
 * whenever it opens. The URL and the problems come from the page's #report-config
 * (pages._report_config). Plain ES2017, no inline handlers, data only as textContent.
 */
(function () {
  "use strict";

  var NOTE_MAX = 500;
  // The page's words (static/i18n.js, loaded first by every page).
  var t = window.geoserviceI18n.t;
  var config = null;

  function cfg() {
    if (config) return config;
    var node = document.getElementById("report-config");
    try {
      config = JSON.parse(node ? node.textContent : "{}") || {};
    } catch (err) {
      config = {};
    }
    return config;
  }

  function h(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function countText(n) {
    return t("有 {n} 条待核实反馈", { n: n });
  }

  // A station's report box (the cards of /nearest; popups get it from the server).
  function box(stationId, openReports) {
    var node = h("div", "report-box");
    node.setAttribute("data-station-id", String(stationId));
    if (openReports > 0) node.appendChild(h("p", "report-count", countText(openReports)));
    var open = h("button", "report-open", t("反馈问题"));
    open.type = "button";
    open.setAttribute("aria-expanded", "false");
    node.appendChild(open);
    return node;
  }

  function panel(node) {
    var found = node.querySelector(".report-panel");
    if (found) return found;
    var part = h("div", "report-panel");
    var label = h("label", "report-note-label", t("补充说明（可选，先填再选问题）"));
    var note = h("input", "report-note");
    note.type = "text";
    note.maxLength = NOTE_MAX;
    note.autocomplete = "off";
    note.placeholder = t("如：门锁着、饮水机坏了");
    label.appendChild(note);
    part.appendChild(label);
    part.appendChild(h("p", "report-hint", t("遇到什么问题？点一下即提交：")));
    var list = h("div", "report-problems");
    (cfg().problems || []).forEach(function (pair) {
      var button = h("button", "report-problem", pair[1]);
      button.type = "button";
      button.setAttribute("data-problem", pair[0]);
      list.appendChild(button);
    });
    part.appendChild(list);
    var result = h("p", "report-result");
    result.setAttribute("role", "status");
    part.appendChild(result);
    node.appendChild(part);
    return part;
  }

  function toggle(node, button) {
    var part = node.querySelector(".report-panel");
    var opening = !part || part.hidden;
    var thanks = node.querySelector(".report-thanks");
    if (thanks) thanks.remove();
    if (opening) {
      part = panel(node);
      part.hidden = false;
    } else {
      part.hidden = true;
    }
    button.setAttribute("aria-expanded", opening ? "true" : "false");
    relayout(node);
  }

  // A popup the panel made taller or shorter: Leaflet lays it out and pans it into view
  // again (maps publish their Leaflet map as window.geoserviceMap).
  function relayout(node) {
    var map = window.geoserviceMap;
    if (!map || !window.L || !node.closest(".leaflet-popup")) return;
    map.eachLayer(function (layer) {
      var element = layer instanceof L.Popup && layer.getElement();
      if (element && element.contains(node)) layer.update();
    });
  }

  function setResult(part, text, kind) {
    var result = part.querySelector(".report-result");
    result.className = "report-result" + (kind ? " is-" + kind : "");
    result.textContent = text;
  }

  function errorText(status, body, retryAfter) {
    if (status === 0) return t("网络错误，未能提交。请检查网络后再试。");
    if (status === 429) {
      var minutes = Math.ceil((parseInt(retryAfter, 10) || 0) / 60);
      return minutes > 0
        ? t("提交太频繁了，请约 {minutes} 分钟后再试。", { minutes: minutes })
        : t("提交太频繁了，请稍后再试。");
    }
    var english = window.geoserviceI18n.lang() === "en";
    var message = body && body.message_zh ? String(english ? body.message_en : body.message_zh) : "";
    if (status >= 400 && status < 500 && message) return t("未能提交：") + message;
    return t("服务器暂时出错（{status}），未能提交，请稍后再试。", { status: status });
  }

  function filed(node, part, body) {
    part.hidden = true;
    part.querySelector(".report-note").value = "";
    setResult(part, "", null);
    var button = node.querySelector(".report-open");
    button.setAttribute("aria-expanded", "false");
    var count = node.querySelector(".report-count");
    if (!count) {
      count = h("p", "report-count");
      node.insertBefore(count, node.firstChild);
    }
    count.textContent = countText(body.open_reports);
    var thanks = h("p", "report-thanks", (window.geoserviceI18n.lang() === "en" ? "" : body.message) || t("谢谢您的反馈！"));
    thanks.setAttribute("role", "status");
    node.insertBefore(thanks, button);
  }

  async function send(node, problem) {
    var part = panel(node);
    if (part.getAttribute("aria-busy") === "true") return;
    var buttons = part.querySelectorAll(".report-problem");
    function busy(on) {
      part.setAttribute("aria-busy", on ? "true" : "false");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = on; });
    }
    var c = cfg();
    var id = node.getAttribute("data-station-id") || "";
    var url = String(c.url || "").replace(String(c.id), encodeURIComponent(id));
    busy(true);
    setResult(part, t("正在提交…"), "busy");
    var status = 0;
    var body = null;
    var retryAfter = null;
    try {
      var resp = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ problem: problem, note: part.querySelector(".report-note").value }),
      });
      status = resp.status;
      retryAfter = resp.headers.get("Retry-After");
      try {
        body = await resp.json();
      } catch (err) {
        body = null;
      }
    } catch (err) {
      status = 0;
    }
    busy(false);
    if (status === 201 && body) filed(node, part, body);
    else setResult(part, errorText(status, body, retryAfter), "error");
    relayout(node);
  }

  // In the capture phase: Leaflet turns two taps within 200 ms anywhere in a popup into a
  // double click and stops the second tap's click on the popup, before it would bubble here.
  document.addEventListener(
    "click",
    function (ev) {
      var target = ev.target;
      if (!target || !target.closest) return;
      var open = target.closest(".report-open");
      var problem = target.closest(".report-problem");
      var node = (open || problem) && (open || problem).closest(".report-box");
      if (!node) return;
      if (open) toggle(node, open);
      else send(node, problem.getAttribute("data-problem"));
    },
    true
  );

  window.geoserviceReports = Object.freeze({ box: box });
})();
