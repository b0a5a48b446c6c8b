/*
 * The page scripts' words in the page's language: t("中文") is the text in the language of
 * the page (<html lang>), the Chinese itself on a zh-Hans page or when the catalog has no
 * translation. Placeholders are named and filled from `values`:
 * t("有 {n} 条待核实反馈", {n: 3}). Texts are written in Chinese in the scripts, inside
 * t("…") with a plain string literal, so that pybabel finds them (babel.cfg); the server
 * puts this page's words as JSON into <script type="application/json" id="i18n">
 * (web/i18n.py js_catalog). Loaded first by every page (pages._assets), as
 * window.geoserviceI18n.
 */
(function () {
  "use strict";

  var catalog = null;

  function load() {
    if (catalog) return catalog;
    var node = document.getElementById("i18n");
    try {
      catalog = JSON.parse(node ? node.textContent : "{}") || {};
    } catch (err) {
      catalog = {};
    }
    if (!catalog.words || typeof catalog.words !== "object") catalog.words = {};
    return catalog;
  }

  function t(zh, values) {
    var words = load().words;
    var text = Object.prototype.hasOwnProperty.call(words, zh) ? String(words[zh]) : zh;
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  // The page's language: "en" or "zh-Hans".
  function lang() {
    return document.documentElement.getAttribute("lang") || "zh-Hans";
  }

  window.geoserviceI18n = Object.freeze({ t: t, lang: lang });
})();
