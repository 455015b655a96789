"""CORS on the real app: preflights, the headers on answers and errors, allowed and refused origins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import build_app
from api.requests import PORTS
from tribe.bootstrap import create_app
from tribe.settings import Settings

FRONT = "http://front.example:3000"
EXPOSED = {"x-tribe-position", "x-request-id", "retry-after", "ratelimit", "ratelimit-policy"}

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]


def names(header: str) -> set[str]:
    return {name.strip().lower() for name in header.split(",")}


def preflight(method: str, headers: str = "content-type", origin: str = FRONT) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    """The app as `tribe serve` builds it: any origin allowed."""
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def restricted(aiohttp_client: ClientFactory, client: TestClient) -> TestClient:
    """The same services behind an app that allows FRONT only."""
    app = build_app(cors_origins=[FRONT])
    app[PORTS] = client.app[PORTS]
    return await aiohttp_client(app)


async def test_preflight_for_sign_up_is_allowed(client: TestClient) -> None:
    r = await client.options("/api/users", headers=preflight("POST", "content-type, x-request-id"))

    assert r.status == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "post" in names(r.headers["Access-Control-Allow-Methods"])
    assert {"authorization", "content-type", "x-tribe-after", "x-request-id"} <= names(
        r.headers["Access-Control-Allow-Headers"]
    )
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in r.headers


async def test_preflight_lists_every_method_of_the_path(client: TestClient) -> None:
    r = await client.options("/api/articles/some-slug/favorite", headers=preflight("DELETE", "authorization"))

    assert r.status == 204
    assert {"post", "delete"} <= names(r.headers["Access-Control-Allow-Methods"])


async def test_answers_and_errors_carry_the_origin_and_exposed_headers(client: TestClient) -> None:
    tags = await client.get("/api/tags", headers={"Origin": FRONT})
    no_token = await client.get("/api/user", headers={"Origin": FRONT})
    invalid = await client.post("/api/users", json={"user": {"username": "ann"}}, headers={"Origin": FRONT})

    assert (tags.status, no_token.status, invalid.status) == (200, 401, 422)
    for r in (tags, no_token, invalid):
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert names(r.headers["Access-Control-Expose-Headers"]) >= EXPOSED
        assert "Vary" not in r.headers
    assert "errors" in await invalid.json()


async def test_any_origin_is_answered_the_same_with_or_without_an_origin(client: TestClient) -> None:
    r = await client.get("/v1/openapi.json")

    assert r.headers["Access-Control-Allow-Origin"] == "*"


async def test_preflight_to_an_unknown_path_is_a_json_404(client: TestClient) -> None:
    r = await client.options("/api/nothing-here", headers=preflight("GET"))

    assert r.status == 404
    assert r.content_type == "application/json"
    assert "errors" in await r.json()


async def test_preflight_for_a_method_the_path_lacks_is_a_json_405(client: TestClient) -> None:
    r = await client.options("/api/tags", headers=preflight("DELETE"))

    assert r.status == 405
    assert "errors" in await r.json()


async def test_preflight_asking_for_a_header_not_allowed_is_refused(client: TestClient) -> None:
    r = await client.options("/api/users", headers=preflight("POST", "content-type, x-secret"))

    assert r.status == 403
    assert "x-secret" in (await r.json())["errors"]["headers"][0]


async def test_options_without_a_requested_method_is_not_a_preflight(client: TestClient) -> None:
    r = await client.options("/api/users", headers={"Origin": FRONT})

    assert r.status == 405
    assert r.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_listed_origin_is_echoed(restricted: TestClient) -> None:
    ok = await restricted.options("/api/users", headers=preflight("POST"))
    tags = await restricted.get("/api/tags", headers={"Origin": FRONT})

    assert ok.status == 204
    for r in (ok, tags):
        assert r.headers["Access-Control-Allow-Origin"] == FRONT
        assert "origin" in names(r.headers["Vary"])
    assert names(tags.headers["Access-Control-Expose-Headers"]) >= EXPOSED


async def test_an_origin_not_listed_gets_no_cors_headers(restricted: TestClient) -> None:
    other = "http://elsewhere.example"
    refused = await restricted.options("/api/users", headers=preflight("POST", origin=other))
    tags = await restricted.get("/api/tags", headers={"Origin": other})

    assert refused.status == 403
    assert "origin" in (await refused.json())["errors"]
    assert tags.status == 200
    for r in (refused, tags):
        assert not [h for h in r.headers if h.lower().startswith("access-control-")]
        assert "origin" in names(r.headers["Vary"])
