/*
 * The home page (/): on a phone the notice and the legend start folded to their summary
 * (static/home.css lays them out), so that the map is seen first; a tap opens them.
 */
(function () {
  "use strict";

  if (window.matchMedia("(max-width: 640px)").matches) {
    document.querySelectorAll("details.geoservice-fold").forEach(function (box) {
      box.open = false;
    });
  }
})();
