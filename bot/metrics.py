"""What the bot counts for operators: Prometheus metrics, and the ticks of its loops.

Kernel-level (imports nothing of briefbot), so any layer may count without importing one above
it. Metrics live in their own :data:`REGISTRY` (not prometheus-client's global one) and are
served by :mod:`bot.monitoring` at ``GET /metrics`` when ``[monitoring] listen`` is set;
counting costs a lock and an add, so it is always on.

Each background loop calls :func:`tick` once per round; ``GET /healthz`` reports a loop as down
when its last tick is older than ``[monitoring] stale_seconds``.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "ADAPTER_CONNECTED", "ALERT_DELIVERIES", "ARTICLES_INGESTED", "DIGEST_POSTS", "FEED_POLLS",
    "LOOP_LAG", "LOOP_LAST_TICK", "RATE_LIMITED", "REGISTRY", "SUMMARIES", "SUMMARY_SECONDS",
    "last_ticks", "tick",
]

REGISTRY = CollectorRegistry(auto_describe=True)

ARTICLES_INGESTED = Counter(
    "briefbot_articles_ingested", "Articles stored for the first time (files, links, feeds)",
    registry=REGISTRY)
SUMMARIES = Counter("briefbot_summaries", "Summaries written", registry=REGISTRY)
SUMMARY_SECONDS = Histogram(
    "briefbot_summary_seconds", "Time to summarise one article (in the worker pool)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
FEED_POLLS = Counter("briefbot_feed_polls", "Feed polls by outcome (ok, not_modified, error)",
                     ["outcome"], registry=REGISTRY)
ALERT_DELIVERIES = Counter(
    "briefbot_alert_messages",
    "Alert messages by outcome: delivered, retry (failed for now, tried again later), failed "
    "(refused for good: skipped)", ["outcome"], registry=REGISTRY)
DIGEST_POSTS = Counter(
    "briefbot_digest_posts",
    "Digest posts by outcome: delivered, retry (failed for now, tried again later), failed "
    "(refused for good: the digest is switched off)", ["outcome"], registry=REGISTRY)
RATE_LIMITED = Counter("briefbot_platform_rate_limited",
                       "Answers of HTTP 429 (rate limited) from a chat platform", ["platform"],
                       registry=REGISTRY)
LOOP_LAG = Histogram(
    "briefbot_event_loop_lag_seconds",
    "How late the event loop ran a timer (a blocked loop delays every chat answer)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY)
LOOP_LAST_TICK = Gauge("briefbot_loop_last_tick_timestamp_seconds",
                       "When each background loop last went round (Unix time)", ["loop"],
                       registry=REGISTRY)
ADAPTER_CONNECTED = Gauge("briefbot_adapter_connected",
                          "1 while the platform's connection is up, else 0", ["platform"],
                          registry=REGISTRY)

for _outcome in ("ok", "not_modified", "error"):
    FEED_POLLS.labels(_outcome)
for _outcome in ("delivered", "retry", "failed"):
    ALERT_DELIVERIES.labels(_outcome)
    DIGEST_POSTS.labels(_outcome)

_ticks: dict[str, float] = {}


def tick(loop: str) -> None:
    """Record that background loop ``loop`` went round (it is alive and not stuck)."""
    now = time.time()
    _ticks[loop] = now
    LOOP_LAST_TICK.labels(loop).set(now)


def last_ticks() -> dict[str, float]:
    """Each loop's last tick (Unix time)."""
    return dict(_ticks)
