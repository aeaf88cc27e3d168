"""Prometheus metrics (``[metrics] host, port``; off by default).

One process-wide :data:`METRICS` with its own registry: the server counts into
it always (a counter increment is a few hundred nanoseconds), and serves it at
``http://HOST:PORT/metrics`` only when ``[metrics] port`` is set. Labelled
children are cached in plain dicts, so the per-frame cost is one dict lookup
and one increment, never a label lookup.

Every name is prefixed ``qunguan_``; docs/operations.md lists them all and
docs/grafana-dashboard.json draws the ones to watch over time (not the alert-only gauges
such as ``qunguan_reports_overdue`` and ``qunguan_media_sweep_refused``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger("qunguan.metrics")

# No ``*_created`` series (the time each counter and histogram was made): they say nothing an
# operator watches, and docs/operations.md lists every series there is. Process-wide, read at scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


_EVENT_NAMES: dict[type, str] = {}


MESSAGE_EVENT: Final = "message"  # the event whose every delivery counts in qunguan_deliveries_total


def event_name(kind: type) -> str:
    """An event's name as ``qunguan_events_total`` labels it: its ``ev`` tag (``message``, ``notice``...)."""
    name = _EVENT_NAMES.get(kind)
    if name is None:
        tag = getattr(getattr(kind, "__struct_config__", None), "tag", None) or kind.__name__
        name = _EVENT_NAMES[kind] = str(tag)
    return name


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # qunguan_process_open_fds and _max_fds (each connection takes a file: see server/fdlimit.py),
        # _resident_memory_bytes, _cpu_seconds_total, _start_time_seconds: every name prefixed qunguan_
        ProcessCollector(namespace="qunguan", registry=r)
        self.connections = Gauge("qunguan_connections", "Open WebSocket connections by state",
                                 ["state"], registry=r)
        self.pre_auth = self.connections.labels("pre_auth")
        self.authenticated = self.connections.labels("authenticated")
        self.connections_opened = Counter("qunguan_connections_opened", "WebSocket connections accepted",
                                          registry=r)
        self.handshakes_waiting = Gauge("qunguan_handshakes_waiting",
                                        "Opening handshakes waiting for their turn (server.handshakes_*)",
                                        registry=r)
        self.handshakes_paced = Counter("qunguan_handshakes_paced",
                                        "Opening handshakes that waited for their turn", registry=r)
        self.handshakes_timed_out = Counter("qunguan_handshakes_timed_out",
                                            "Opening handshakes dropped at their timeout (a turn's wait included)",
                                            registry=r)
        self._closes = Counter("qunguan_connection_closes", "Closed connections by WebSocket close code",
                               ["code"], registry=r)
        self._close_children: dict[int | None, Any] = {}
        self._ops = Counter("qunguan_ops", "Requests by op and outcome (ok or the error code)",
                            ["op", "outcome"], registry=r)
        self._op_children: dict[tuple[str, str], Any] = {}
        self.messages = Counter("qunguan_messages", "Messages accepted by send (stored and acknowledged)",
                                registry=r)
        self.deliveries = Counter("qunguan_deliveries", "Message events written to connections", registry=r)
        self._events = Counter("qunguan_events", "Events queued to connections, by event", ["event"], registry=r)
        self._named_children: dict[str, Any] = {}
        self.outbox_closes = Counter("qunguan_outbox_overflow_closes",
                                     "Connections closed with 1013 because they stopped reading", registry=r)
        self.outbox_drops = Counter("qunguan_outbox_dropped_frames",
                                    "Frames not sent because their connection was already closing", registry=r)
        self.commit_batch = Histogram("qunguan_commit_batch_size", "Writes per group commit (ops + messages + "
                                      "network-log rows)", buckets=BATCH_BUCKETS, registry=r)
        self.commit_seconds = Histogram("qunguan_commit_seconds", "Duration of one group commit (BEGIN to COMMIT)",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.commit_failures = Counter("qunguan_commit_failures", "Group commits that failed as a whole", registry=r)
        self.loop_lag = Histogram("qunguan_loop_lag_seconds", "How late the loop monitor's tick ran (its lag)",
                                  buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r)
        self.loop_stalls = Counter("qunguan_loop_stalls", "Event-loop iterations over 50 ms (each logged with why)",
                                   registry=r)
        self._filter_hits = Counter("qunguan_filter_hits", "Prohibited-content matches by category and action",
                                    ["category", "action"], registry=r)
        self._hit_children: dict[tuple[str, str], Any] = {}
        self._rate_limited = Counter("qunguan_rate_limited", "Requests and connections refused by a rate limit",
                                     ["what"], registry=r)
        self._rl_children: dict[str, Any] = {}
        self.overdue_reports = Gauge("qunguan_reports_overdue",
                                     "Complaints open longer than reports.answer_within_hours (Art. 12)", registry=r)
        self.open_reports = Gauge("qunguan_reports_open", "Complaints waiting for an operator (Art. 12)",
                                  registry=r)
        self.open_reviews = Gauge("qunguan_review_queue_open", "Held or flagged content waiting for review",
                                  registry=r)
        self.purge_runs = Counter("qunguan_purge_runs", "Retention purges run, by result", ["result"], registry=r)
        self.purged_rows = Counter("qunguan_purged_rows", "Rows removed by retention purges", ["table"],
                                   registry=r)
        self.reloads = Counter("qunguan_config_reloads", "SIGHUP reloads, by result", ["result"], registry=r)
        # Shown at 0 from the start: increase() does not count a series' first sample, so the first
        # refused reload (or failed purge) after a start would be missed by a dashboard.
        for result in ("applied", "refused"):
            self.reloads.labels(result)
        for result in ("ok", "failed", "refused"):  # refused: the clock in doubt (server/retention.py)
            self.purge_runs.labels(result)
        self.search_backlog = Gauge("qunguan_search_index_backlog",
                                    "Messages not yet in the search index (searches read them directly)", registry=r)
        self.writes_queued = Gauge("qunguan_store_writes_queued",
                                   "Writes waiting for the store's writer behind the commit running now "
                                   "(grows while the database is slow or stuck)", registry=r)
        self.ready = Gauge("qunguan_ready", "1 while /readyz answers 200", registry=r)
        self.media_sweep_refused = Gauge("qunguan_media_sweep_refused",
                                         "1 while the last orphan sweep removed nothing: the media folder "
                                         "is not (or cannot be) bound to this database", registry=r)
        self.internal_errors = Counter("qunguan_internal_errors", "Requests answered with internal", registry=r)
        # A gateway without shared media storage (server/cluster/relay_cache.py)
        self._media_relayed = Counter("qunguan_media_relayed", "Downloads a gateway relayed from the home's media "
                                      "folder, by where their bytes came from: memory, or a read from the home",
                                      ["source"], registry=r)
        self.media_relay_kept = Gauge("qunguan_media_relay_kept_bytes",
                                      "Bytes of relayed files a gateway keeps in memory", registry=r)
        self.relayed_from_memory = self._media_relayed.labels("memory")
        self.relayed_from_home = self._media_relayed.labels("home")
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- cached children ------------------------------------------------------
    def op(self, op: str, outcome: str) -> Any:
        child = self._op_children.get((op, outcome))
        if child is None:
            child = self._op_children[(op, outcome)] = self._ops.labels(op, outcome)
        return child

    def queued(self, name: str, n: int) -> None:
        """``n`` connections of this node were given one event named ``name`` (``qunguan_events_total``);
        a ``message`` counts as ``n`` deliveries too (``qunguan_deliveries_total``). The one count of
        both: fan-out, a gateway writing the home's events, a takeover's catch-up."""
        if n:
            self.event_named(name).inc(n)
            if name == MESSAGE_EVENT:
                self.deliveries.inc(n)

    def event_named(self, name: str) -> Any:
        """The child of ``qunguan_events_total`` for the event named ``name`` (see :func:`event_name`)."""
        child = self._named_children.get(name)
        if child is None:
            child = self._named_children[name] = self._events.labels(name)
        return child

    def closed(self, code: int | None) -> None:
        """Count a close by its code: the one the peer sent, so codes 3000-4999 (free for applications to pick)
        share one label; one per code would let any client add up to 2000 series to every scrape."""
        child = self._close_children.get(code)
        if child is None:
            label = "none" if code is None else "3000-4999" if 3000 <= code <= 4999 else str(code)
            child = self._close_children[code] = self._closes.labels(label)
        child.inc()

    def logged_in(self) -> None:
        """A connection held by this node moved from pre_auth to authenticated."""
        self.pre_auth.dec()
        self.authenticated.inc()

    def logged_out(self) -> None:
        """... and back (a logout, a cancelled account, the connection closing while logged in)."""
        self.authenticated.dec()
        self.pre_auth.inc()

    def filter_hit(self, category: str, action: str) -> None:
        key = (category, action)
        child = self._hit_children.get(key)
        if child is None:
            child = self._hit_children[key] = self._filter_hits.labels(category, action)
        child.inc()

    def rate_limited(self, what: str) -> None:
        child = self._rl_children.get(what)
        if child is None:
            child = self._rl_children[what] = self._rate_limited.labels(what)
        child.inc()

    def observe_commit(self, ops: int, messages: int, log_rows: int, seconds: float, ok: bool) -> None:
        """The store's commit observer (see ``Store.set_commit_observer``)."""
        if not ok:
            self.commit_failures.inc()
            return
        self.commit_batch.observe(ops + messages + log_rows)
        self.commit_seconds.observe(seconds)
        if messages:
            self.messages.inc(messages)

    # -- the HTTP endpoint --------------------------------------------------------
    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on host:port (0 = a free port) from a thread; returns the port."""
        self._http, self._thread = start_http_server(port, host, registry=self.registry)
        return int(self._http.server_port)

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


METRICS = Metrics()
