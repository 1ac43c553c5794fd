"""Prometheus metrics of the service: requests by endpoint and status, latency histograms, and per index its
document count and committed version (read from the manifests at scrape time)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.service.indexes import ServedIndexes

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The service's metrics in a registry of their own (several apps in one process never share counters)."""

    def __init__(self, indexes: ServedIndexes) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modernsearch_requests", "HTTP requests answered.", ("method", "endpoint", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "modernsearch_request_seconds",
            "Time to answer a request.",
            ("method", "endpoint"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_IndexCollector(indexes))

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(method, endpoint, str(status)).inc()
        self.latency.labels(method, endpoint).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus's text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _IndexCollector:
    """Documents and committed version of every served index, as their manifests say now."""

    def __init__(self, indexes: ServedIndexes) -> None:
        self.indexes = indexes

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from index.format import read_manifest, version_stamp

        documents = GaugeMetricFamily(
            "modernsearch_index_documents", "Documents in the committed version.", labels=["index"]
        )
        committed = GaugeMetricFamily(
            "modernsearch_index_committed_timestamp_seconds",
            "When the committed version was written (changes with every commit).",
            labels=["index"],
        )
        for name, folder in self.indexes.folders.items():
            try:
                manifest, stamp = read_manifest(folder), version_stamp(folder)
            except Exception:  # noqa: BLE001 - a scrape reports what it can; /ready reports unusable indexes
                continue
            documents.add_metric([name], manifest.documents.count)
            if stamp is not None:
                committed.add_metric([name], stamp[1] / 1e9)
        yield documents
        yield committed
