/*
 * The back office's import page (web/admin/files.py): a file over the size limit is named
 * before it is uploaded (the server refuses it too), and a form being sent says so and
 * cannot be sent twice (one upload, one apply). Plain ES2017; no inline handlers (CSP).
 */
(function () {
  "use strict";

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1);
  }

  // The chosen file against the input's data-max-bytes: the note under the input says
  // why it cannot be sent, and the form will not submit it.
  function checkSize(input) {
    var limit = Number(input.getAttribute("data-max-bytes")) || 0;
    var note = document.getElementById(input.getAttribute("aria-describedby"));
    var file = input.files && input.files[0];
    var message = "";
    if (limit && file && file.size > limit) {
      message =
        "文件 " + megabytes(file.size) + " MB，超过 " + Math.floor(limit / 1048576) +
        " MB 上限；请拆分后分批导入";
    }
    input.setCustomValidity(message);
    if (note) {
      note.textContent = message;
      note.hidden = !message;
    }
  }

  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () {
      checkSize(input);
    });
  });

  // A form with data-busy: once sent, its button shows the text and is disabled (again
  // usable when the browser's back button shows the page from its cache).
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    var buttons = form.querySelectorAll("button[type=submit]");
    var labels = Array.prototype.map.call(buttons, function (b) {
      return b.textContent;
    });
    window.addEventListener("pageshow", function () {
      form.removeAttribute("aria-busy");
      buttons.forEach(function (button, i) {
        button.textContent = labels[i];
        button.disabled = false;
      });
    });
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("aria-busy") === "true") {
        event.preventDefault();
        return;
      }
      form.setAttribute("aria-busy", "true");
      buttons.forEach(function (button) {
        button.textContent = form.getAttribute("data-busy");
        button.disabled = true;
      });
    });
  });
})();
