// Sensor page: redraw the chart every minute, when a new one-minute aggregate may exist.
"use strict";

(function () {
  var chart = document.getElementById("chart");
  if (!chart) return;
  var base = chart.getAttribute("data-src");
  setInterval(function () {
    chart.src = base + "&v=" + Date.now();
  }, 60000);
})();
