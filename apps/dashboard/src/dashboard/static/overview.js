// Overview: keep the open-alerts table and the counts current from the SSE stream.
"use strict";

(function () {
  var dash = window.dash;
  var table = document.getElementById("alerts");
  var tbody = table.tBodies[0];
  var maxRows = Number(table.getAttribute("data-rows")) || 100;
  var status = document.getElementById("live-status");
  var since = table.getAttribute("data-since") || "";
  var source = null;
  var summaryTimer = null;

  function setLive(state, text) {
    status.className = "live " + state;
    status.textContent = text;
  }

  function findRow(alertId) {
    for (var i = 0; i < tbody.rows.length; i++) {
      if (tbody.rows[i].getAttribute("data-alert-id") === alertId) return tbody.rows[i];
    }
    return null;
  }

  function buildRow(a) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-alert-id", a.alert_id);
    tr.className = "sev-" + a.severity + " fresh";
    var sev = dash.el("td");
    sev.appendChild(dash.el("span", a.severity, "pill " + a.severity));
    tr.appendChild(sev);
    var sensor = dash.el("td", null, "wrap");
    var link = dash.el("a", a.sensor_id);
    link.href = "/sensors/" + encodeURIComponent(a.sensor_id);
    sensor.appendChild(link);
    tr.appendChild(sensor);
    tr.appendChild(dash.el("td", a.site));
    tr.appendChild(dash.el("td", a.rule));
    tr.appendChild(dash.el("td", dash.fixed1(a.value), "n"));
    tr.appendChild(dash.el("td", dash.fixed1(a.threshold), "n"));
    var when = dash.el("td");
    when.title = dash.utc(a.started_at);
    var time = dash.el("time", dash.ago(a.started_at));
    time.setAttribute("data-ms", String(a.started_at));
    when.appendChild(time);
    tr.appendChild(when);
    tr.appendChild(dash.el("td", a.message, "wrap"));
    return tr;
  }

  function applyAlert(a) {
    var existing = findRow(a.alert_id);
    if (a.status === "open") {
      var row = buildRow(a);
      if (existing) tbody.replaceChild(row, existing);
      else tbody.insertBefore(row, tbody.firstChild);
      while (tbody.rows.length > maxRows) tbody.deleteRow(-1);
    } else if (existing) {
      tbody.removeChild(existing);
    }
    document.getElementById("no-alerts").hidden = tbody.rows.length > 0;
  }

  function fillCounts(tableId, counts, keys) {
    var target = document.getElementById(tableId);
    var body = target.tBodies[0] || target;
    while (body.rows.length) body.deleteRow(0);
    if (!keys.length) {
      var empty = dash.el("tr", null, "empty");
      var cell = dash.el("td", "no open alerts");
      cell.colSpan = 2;
      empty.appendChild(cell);
      body.appendChild(empty);
    }
    keys.forEach(function (k) {
      var tr = dash.el("tr");
      tr.appendChild(dash.el("th", k));
      tr.appendChild(dash.el("td", counts[k] || 0, "n"));
      body.appendChild(tr);
    });
  }

  function refreshSummary() {
    summaryTimer = null;
    fetch("/api/alerts/summary").then(function (r) {
      if (!r.ok) throw new Error("summary " + r.status);
      return r.json();
    }).then(function (s) {
      document.getElementById("open-count").textContent = s.open;
      document.getElementById("critical-count").textContent = s.by_severity.critical || 0;
      document.getElementById("warning-count").textContent = s.by_severity.warning || 0;
      var rules = [];
      var ruleRows = document.getElementById("by-rule").rows;
      for (var i = 0; i < ruleRows.length; i++) rules.push(ruleRows[i].cells[0].textContent);
      fillCounts("by-rule", s.by_rule, rules);
      fillCounts("by-site", s.by_site, Object.keys(s.by_site).sort());
    }).catch(function () { /* the degraded banner on next load says why */ });
  }

  function scheduleSummary() {
    // Alerts arrive in bursts; one summary request per burst is enough.
    if (summaryTimer === null) summaryTimer = setTimeout(refreshSummary, 500);
  }

  function reloadTable() {
    fetch("/api/alerts?status=open&size=" + maxRows).then(function (r) {
      if (!r.ok) throw new Error("alerts " + r.status);
      return r.json();
    }).then(function (body) {
      while (tbody.rows.length) tbody.deleteRow(0);
      body.alerts.forEach(function (a) { tbody.appendChild(buildRow(a)); });
      document.getElementById("no-alerts").hidden = tbody.rows.length > 0;
    }).catch(function () {});
    scheduleSummary();
  }

  function connect() {
    var url = "/stream/alerts" + (since ? "?since=" + encodeURIComponent(since) : "");
    source = new EventSource(url);
    source.addEventListener("ready", function (e) {
      if (e.lastEventId) since = e.lastEventId;
      setLive("on", "live");
    });
    source.addEventListener("alert", function (e) {
      if (e.lastEventId) since = e.lastEventId;
      applyAlert(JSON.parse(e.data));
      scheduleSummary();
    });
    source.addEventListener("reset", function (e) {
      if (e.lastEventId) since = e.lastEventId;
      reloadTable();
    });
    source.addEventListener("status", function (e) {
      var s = JSON.parse(e.data);
      setLive(s.live ? "on" : "off", s.live ? "live" : "live updates paused: " + (s.reason || s.state));
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the server refused); resume from the last id ourselves.
        setLive("off", "reconnecting…");
        setTimeout(connect, 5000);
      } else {
        setLive("off", "reconnecting…");
      }
    };
  }

  dash.refreshTimes();
  connect();
})();
