/*
 * The back office's account pages (web/admin/users.py; templates/admin/users_*.html): the
 * copy button of a token shown once, and the towns list that only a town editor has.
 *
 * Plain ES2017, no framework; the CSP allows no inline script, so behaviour is bound with
 * addEventListener.
 */
(function () {
  "use strict";

  // -- the token shown once: copy it ------------------------------------------------
  var copy = document.getElementById("copy-token");
  var field = copy ? document.getElementById(copy.getAttribute("data-copy")) : null;
  var said = document.getElementById("copy-status");
  if (copy && field) {
    copy.hidden = false;
    var done = function (ok) {
      if (said) said.textContent = ok ? "已复制到剪贴板" : "请长按或按 Ctrl+C 复制";
    };
    // The clipboard API needs a secure context; on plain http the selection is copied.
    var fallback = function () {
      field.focus();
      field.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (err) {
        ok = false;
      }
      done(ok);
    };
    copy.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () {
          done(true);
        }, fallback);
      } else {
        fallback();
      }
    });
    field.addEventListener("focus", function () {
      field.select();
    });
  }

  // -- towns only for a town editor -------------------------------------------------
  Array.prototype.forEach.call(document.querySelectorAll("select[data-towns]"), function (role) {
    var towns = document.getElementById(role.getAttribute("data-towns"));
    if (!towns) return;
    var sync = function () {
      var needed = role.value === "town_editor";
      towns.disabled = !needed;
      towns.required = needed;
    };
    role.addEventListener("change", sync);
    sync();
  });
})();
