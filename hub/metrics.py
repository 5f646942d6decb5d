"""Prometheus metrics, one registry per app so several hubs can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.sockets = Gauge("hub_sockets", "Connected sockets", ["namespace"], registry=r)
        self.socket_events = Counter(
            "hub_socket_events",
            "Client events by outcome: ok, refused (error ack), unavailable (database) "
            "or failed (internal error)",
            ["namespace", "event", "outcome"],
            registry=r,
        )
        self.connections_refused = Counter(
            "hub_connections_refused", "Refused Socket.IO connections", ["namespace", "code"], registry=r
        )
        self.outbox_delivered = Counter(
            "hub_outbox_delivered_events", "Outbox events delivered to all their subscribers", registry=r
        )
        self.outbox_failures = Counter(
            "hub_outbox_delivery_failures", "Failed subscriber deliveries", ["subscriber"], registry=r
        )
        self.outbox_dead = Counter(
            "hub_outbox_dead_events", "Events given up after the maximum attempts", registry=r
        )
        self.outbox_pending = Gauge(
            "hub_outbox_pending_events", "Events not yet delivered (read at scrape time)", registry=r
        )
        self.outbox_lag = Gauge(
            "hub_outbox_lag_seconds", "Age of the oldest undelivered event (read at scrape time)", registry=r
        )

        self.chat_batches = Counter(
            "hub_chat_send_batches",
            "Writes of chat:send messages (one transaction each, however many messages it carries)",
            registry=r,
        )
        self.chat_batched = Counter(
            "hub_chat_send_batched_messages", "chat:send messages handed to those writes", registry=r
        )

        self.assignment_requests = Counter(
            "hub_support_assignment_requests",
            "Requests for a support assignment pass (opens, frees, agents coming online, sweeps)",
            registry=r,
        )
        self.assignment_passes = Counter(
            "hub_support_assignment_passes",
            "Support assignment passes run (requests made during a pass share the next one)",
            registry=r,
        )

    def chat_batch(self, size: int) -> None:
        self.chat_batches.inc()
        self.chat_batched.inc(size)

    def identify_worker(self, index: int, pid: int) -> None:
        """Under ``serve --workers`` each worker answers the requests the kernel gives it, so a
        scrape says which worker answered it."""
        Gauge(
            "hub_worker",
            "Set to 1 in a worker of serve --workers: its number (1 to N) and process id",
            ["worker", "pid"],
            registry=self.registry,
        ).labels(str(index), str(pid)).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
