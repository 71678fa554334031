"""Read-only queries against the alerts and one-minute aggregates indices in Elasticsearch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_errors

T = TypeVar("T")

MAX_SENSORS = 1000


def _sort(*clauses: dict[str, Any]) -> Any:
    """A sort for the request body (the client's type for ``sort`` is a union)."""
    return list(clauses)


class BackendUnavailable(Exception):
    """Elasticsearch could not answer; the message is safe to show to users."""


@dataclass(frozen=True)
class AlertQuery:
    """Filters for the alerts list; None means no filter on that field."""

    status: str | None = "open"
    severity: str | None = None
    rule: str | None = None
    site: str | None = None
    sensor_id: str | None = None
    size: int = 50
    offset: int = 0


class Store:
    """The dashboard's view of Elasticsearch."""

    def __init__(self, es: Elasticsearch, alerts_index: str, aggregates_index: str,
                 display_url: str) -> None:
        self._es = es
        self._alerts = alerts_index
        self._aggregates = aggregates_index
        self._display_url = display_url

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request, turning every client error into a one-line BackendUnavailable."""
        try:
            return fn()
        except es_errors.ConnectionTimeout:
            raise BackendUnavailable(
                f"Elasticsearch at {self._display_url} timed out while trying to {what}"
            ) from None
        except es_errors.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "connection failed"
            raise BackendUnavailable(
                f"Elasticsearch at {self._display_url} is unreachable while trying to {what}: "
                f"{reason}") from None
        except es_errors.UnsupportedProductError:  # not Elasticsearch at that URL
            raise BackendUnavailable(
                f"Elasticsearch at {self._display_url} could not {what}: the server there is "
                "not Elasticsearch") from None
        except es_errors.ApiError as exc:  # an HTTP error answer (8.x: not a TransportError)
            raise BackendUnavailable(
                f"Elasticsearch at {self._display_url} refused to {what}: "
                f"HTTP {exc.status_code} {exc.error}") from None
        except es_errors.TransportError as exc:  # e.g. an answer that is not JSON
            raise BackendUnavailable(
                f"Elasticsearch at {self._display_url} could not {what}: {type(exc).__name__}"
            ) from None

    def ping(self) -> tuple[bool, str | None]:
        """Whether Elasticsearch answers, and why not."""
        # The node's own version from the nodes info API rather than GET /: that one lives in
        # Elasticsearch 8's rest-root module, which a minimal distribution (the harness's
        # integ-test zip) does not have; _nodes/_local is in every 8.x server.
        try:
            info = self._call("answer", lambda: self._es.nodes.info(
                node_id="_local", filter_path="nodes.*.version"))
        except BackendUnavailable as exc:
            return False, str(exc)
        versions = [node.get("version") for node in info.get("nodes", {}).values()]
        return True, f"version {versions[0] if versions else 'unknown'}"

    def alerts(self, q: AlertQuery) -> dict[str, Any]:
        """Alerts matching the filters, newest first, with the total count."""
        filters = [{"term": {name: value}} for name, value in (
            ("status", q.status), ("severity", q.severity), ("rule", q.rule),
            ("site", q.site), ("sensor_id", q.sensor_id)) if value is not None]
        resp = self._call("list alerts", lambda: self._es.search(
            index=self._alerts, ignore_unavailable=True, track_total_hits=True,
            query={"bool": {"filter": filters}}, from_=q.offset, size=q.size,
            sort=_sort({"started_at": {"order": "desc", "unmapped_type": "long"}},
                       {"alert_id": {"order": "asc", "unmapped_type": "keyword"}})))
        return {"total": resp["hits"]["total"]["value"],
                "alerts": [h["_source"] for h in resp["hits"]["hits"]]}

    def summary(self) -> dict[str, Any]:
        """Open alerts counted per rule, per site and per severity."""
        resp = self._call("count open alerts", lambda: self._es.search(
            index=self._alerts, ignore_unavailable=True, size=0, track_total_hits=True,
            query={"bool": {"filter": [{"term": {"status": "open"}}]}},
            aggs={name: {"terms": {"field": name, "size": 200}}
                  for name in ("rule", "site", "severity")}))
        aggs = resp.get("aggregations", {})

        def counts(name: str) -> dict[str, int]:
            buckets = aggs.get(name, {}).get("buckets", [])
            return {b["key"]: b["doc_count"] for b in buckets}

        return {"open": resp["hits"]["total"]["value"], "by_rule": counts("rule"),
                "by_site": counts("site"), "by_severity": counts("severity")}

    def sensors(self, site: str | None = None) -> list[dict[str, Any]]:
        """Every sensor seen in the aggregates or the alerts, with its latest minute."""
        site_filter = [{"term": {"site": site}}] if site else []
        latest = self._call("list sensors", lambda: self._es.search(
            index=self._aggregates, ignore_unavailable=True, size=0,
            query={"bool": {"filter": site_filter}},
            aggs={"sensors": {"terms": {"field": "sensor_id", "size": MAX_SENSORS},
                              "aggs": {"last": {"top_hits": {
                                  "size": 1, "sort": [{"window_start": "desc"}],
                                  "_source": ["site", "window_end", "avg"]}}}}}))
        alerts = self._call("count alerts per sensor", lambda: self._es.search(
            index=self._alerts, ignore_unavailable=True, size=0,
            query={"bool": {"filter": site_filter}},
            aggs={"sensors": {"terms": {"field": "sensor_id", "size": MAX_SENSORS},
                              "aggs": {"open": {"filter": {"term": {"status": "open"}}},
                                       "site": {"terms": {"field": "site", "size": 1}}}}}))
        out: dict[str, dict[str, Any]] = {}
        for b in latest.get("aggregations", {}).get("sensors", {}).get("buckets", []):
            src = b["last"]["hits"]["hits"][0]["_source"]
            out[b["key"]] = {"sensor_id": b["key"], "site": src.get("site"),
                             "last_window_end": src.get("window_end"),
                             "last_avg": src.get("avg"), "open_alerts": 0}
        for b in alerts.get("aggregations", {}).get("sensors", {}).get("buckets", []):
            site_buckets = b["site"]["buckets"]
            entry = out.setdefault(b["key"], {
                "sensor_id": b["key"], "site": site_buckets[0]["key"] if site_buckets else None,
                "last_window_end": None, "last_avg": None, "open_alerts": 0})
            entry["open_alerts"] = b["open"]["doc_count"]
        return sorted(out.values(), key=lambda e: e["sensor_id"])

    def series(self, sensor_id: str, minutes: int) -> dict[str, Any] | None:
        """The sensor's last `minutes` of one-minute aggregates, or None if it is unknown."""
        latest = self._call("read the sensor's latest minute", lambda: self._es.search(
            index=self._aggregates, ignore_unavailable=True, size=1,
            query={"bool": {"filter": [{"term": {"sensor_id": sensor_id}}]}},
            sort=_sort({"window_start": {"order": "desc", "unmapped_type": "long"}})))
        hits = latest["hits"]["hits"]
        if not hits:
            known = self._call("look the sensor up in alerts", lambda: self._es.count(
                index=self._alerts, ignore_unavailable=True,
                query={"bool": {"filter": [{"term": {"sensor_id": sensor_id}}]}}))
            if known["count"] == 0:
                return None
            return {"sensor_id": sensor_id, "site": None, "minutes": minutes, "points": []}
        last = hits[0]["_source"]
        since = int(last["window_start"]) - (minutes - 1) * 60_000
        resp = self._call("read the sensor's series", lambda: self._es.search(
            index=self._aggregates, ignore_unavailable=True, size=minutes,
            query={"bool": {"filter": [{"term": {"sensor_id": sensor_id}},
                                       {"range": {"window_start": {"gte": since}}}]}},
            sort=_sort({"window_start": "asc"})))
        fields = ("window_start", "window_end", "count", "min", "avg", "max")
        points = [{k: h["_source"].get(k) for k in fields} for h in resp["hits"]["hits"]]
        return {"sensor_id": sensor_id, "site": last.get("site"), "minutes": minutes,
                "points": points}
