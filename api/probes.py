"""What operators and their tools ask a process: `/metrics` (Prometheus), `/health/live` and `/health/ready`.

The API serves them beside its routes; a worker serves them alone on its HTTP port (`probe_app`).
None needs a token, and the rate limits do not count them (api/limits.py): a scraper or an
orchestrator asks every few seconds from one address.

`HttpMetrics` counts every request of the API by route template (the resource's canonical path,
never the path asked: one series per route, whatever the ids in it) and status, and its 4xx
answers by kind.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from api.answers import json_response
from services.health import Health

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
"""The registry `/metrics` exposes."""
HEALTH = web.AppKey("health", Health)
PATHS = frozenset({"/metrics", "/health/live", "/health/ready"})
"""The probes' paths (without the trailing slash every route also answers to)."""

UNMATCHED = "unmatched"
"""The route label of a request no route takes (404, 405)."""

KINDS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

routes = web.RouteTableDef()


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "tribe_http_request_duration_seconds", "Time the API took to answer, by route template, method and status",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.client_errors = Counter(
            "tribe_http_client_errors", "4xx answers by kind (too_large is 413, rate_limited 429) and route template",
            ["kind", "route"], registry=registry,
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # what the error middleware lets through (redirects)
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else UNMATCHED
            self.latency.labels(route, request.method, str(status)).observe(time.perf_counter() - started)
            if 400 <= status < 500:
                self.client_errors.labels(KINDS.get(status, "other"), route).inc()


def gathered(path: str) -> CollectorRegistry:
    """What `/metrics` exposes under `tribe serve --processes`: every process's values, summed.

    There the processes share one port, so a scrape reaches any one of them: each writes its values
    to files in `path` (prometheus_client's multiprocess mode, tribe/processes.py), and this
    registry reads them all at each scrape.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[REGISTRY]), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/health/live")
async def live(_: web.Request) -> web.Response:
    """The process answers: nothing else is asked, so a slow store never gets it restarted."""
    return json_response({"live": True})


@routes.get("/health/ready")
async def ready(request: web.Request) -> web.Response:
    readiness = await request.app[HEALTH].ready()
    return json_response(readiness.as_json(), status=200 if readiness.ready else 503)


def probe_app(registry: CollectorRegistry, health: Health) -> web.Application:
    """A worker's HTTP application: the probes and nothing else."""
    app = web.Application()
    app[REGISTRY] = registry
    app[HEALTH] = health
    app.add_routes(routes)
    return app
