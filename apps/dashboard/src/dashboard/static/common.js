// Helpers shared by the pages. Every value from a sensor goes into the DOM via textContent,
// never innerHTML, so a hostile sensor id or message can only ever be text.
"use strict";

window.dash = (function () {
  function ago(ms) {
    var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s >= 86400) return Math.floor(s / 86400) + " d ago";
    if (s >= 3600) return Math.floor(s / 3600) + " h ago";
    if (s >= 60) return Math.floor(s / 60) + " min ago";
    return s + " s ago";
  }

  function utc(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function fixed1(v) {
    return typeof v === "number" ? v.toFixed(1) + " °C" : String(v);
  }

  function refreshTimes() {
    var times = document.querySelectorAll("time[data-ms]");
    for (var i = 0; i < times.length; i++) {
      var ms = Number(times[i].getAttribute("data-ms"));
      if (!isNaN(ms)) times[i].textContent = ago(ms);
    }
  }

  setInterval(refreshTimes, 15000);
  return { ago: ago, utc: utc, el: el, fixed1: fixed1, refreshTimes: refreshTimes };
})();
