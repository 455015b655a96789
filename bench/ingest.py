"""Figure 1, ingest: POST /v1/events, one event per request and batches of 100.

Each runtime's API is loaded by the load generator (bench/load.py, its own process) at its
maximum (closed loop) and at half that rate (open loop), and so is a bare aiohttp handler
returning a constant, with the same requests, in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bench.common import Sizes
from bench.procs import load, port_of
from bench.report import Figure, ratio_at_least, value_at_least, value_at_most
from bench.workload import Generated, article_id, user_id

SINGLE_CONCURRENCY = 32
BATCH_CONCURRENCY = 8
BATCH = 100


def requests(site: Generated, tokens: list[str], per_request: int, count: int = 500) -> list[dict[str, Any]]:
    """`count` distinct request bodies of `per_request` ArticleViewed events on existing articles."""
    out = []
    k = 0
    for i in range(count):
        body = []
        for _ in range(per_request):
            body.append({"type": "ArticleViewed", "article_id": article_id(k % site.articles), "referrer": "bench"})
            k += 7
        out.append(
            {
                "method": "POST",
                "path": "/v1/events",
                "headers": {"Authorization": f"Token {tokens[i % len(tokens)]}"},
                "body": orjson.dumps(body).decode(),
            }
        )
    return out


@dataclass
class Measured:
    single: dict[str, Any]
    half: dict[str, Any]
    batch: dict[str, Any]


def measure(
    url: str,
    site: Generated,
    tokens: list[str],
    sizes: Sizes,
    workdir,
    *,
    half_rate: float | None = None,
    parts: tuple[str, ...] = ("single", "half", "batch"),
) -> Measured:
    """Max rate one-per-request, then open loop at `half_rate` (default: half of that max), then batches."""
    port = port_of(url)
    base = {"port": port, "duration": sizes.load_seconds, "warmup": sizes.warmup}
    runs: dict[str, dict[str, Any]] = {}
    if "single" in parts:
        runs["single"] = load(
            {**base, "mode": "closed", "concurrency": SINGLE_CONCURRENCY, "requests": requests(site, tokens, 1)},
            workdir,
        )
    if "half" in parts:
        rate = half_rate if half_rate is not None else max(1.0, runs["single"]["rps"] / 2)
        runs["half"] = load({**base, "mode": "open", "rate": rate, "requests": requests(site, tokens, 1)}, workdir)
        runs["half"]["rate"] = rate
    if "batch" in parts:
        runs["batch"] = load(
            {
                **base,
                "mode": "closed",
                "concurrency": BATCH_CONCURRENCY,
                "requests": requests(site, tokens, BATCH, 100),
            },
            workdir,
        )
    for run in runs.values():
        bad = {s: n for s, n in run["statuses"].items() if s != "202"}
        if bad:
            raise RuntimeError(f"{url}: POST /v1/events answered {bad}")
    return Measured(runs.get("single", {}), runs.get("half", {}), runs.get("batch", {}))


def figures(runtime: str, tribe: Measured, bare: Measured) -> list[Figure]:
    label = f"ingest {runtime}"
    b = "bare aiohttp handler"
    half_rate = tribe.half["rate"]
    out = [
        Figure(
            f"{label}, 1 event/request: throughput",
            tribe.single["rps"],
            "req/s",
            b,
            bare.single["rps"],
            ratio_at_least(0.5),
        ),
        Figure(
            f"{label}, 1 event/request: p50 at max rate",
            tribe.single["latency"]["p50_ms"],
            "ms",
            b,
            bare.single["latency"]["p50_ms"],
        ),
        Figure(
            f"{label}, 1 event/request: p99 at max rate",
            tribe.single["latency"]["p99_ms"],
            "ms",
            b,
            bare.single["latency"]["p99_ms"],
        ),
        Figure(
            f"{label}, 1 event/request: p99 at half max ({half_rate:,.0f} req/s)",
            tribe.half["latency"]["p99_ms"],
            "ms",
            f"{b}, same rate",
            bare.half["latency"]["p99_ms"],
            value_at_most(25, "ms"),
        ),
        Figure(
            f"{label}, 100 events/request: throughput",
            tribe.batch["rps"] * BATCH,
            "events/s",
            b,
            bare.batch["rps"] * BATCH,
            value_at_least(50_000, "events/s") if runtime == "kafka" else None,
        ),
        Figure(
            f"{label}, 100 events/request: p50",
            tribe.batch["latency"]["p50_ms"],
            "ms",
            b,
            bare.batch["latency"]["p50_ms"],
        ),
        Figure(
            f"{label}, 100 events/request: p99",
            tribe.batch["latency"]["p99_ms"],
            "ms",
            b,
            bare.batch["latency"]["p99_ms"],
        ),
    ]
    return out


def site_tokens(site: Generated, count: int = 50) -> list[str]:
    from bench.common import tokens

    return tokens(user_id(i) for i in range(min(count, site.users)))
