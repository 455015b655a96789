"""/v1/openapi.json documents exactly the /v1 routes the app serves."""

from __future__ import annotations

from openapi_spec_validator import validate

from api.app import MAX_BODY_BYTES
from api.openapi import DOCUMENT
from tests.e2e.conftest import Api


async def test_openapi_document_matches_the_v1_routes(api: Api) -> None:
    r = await api.client.get("/v1/openapi.json")
    assert r.status == 200
    document = await r.json()
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    # Every route also answers with a trailing slash (api/app.py): the same operation as its documented path.
    served = {
        (route.resource.canonical.removesuffix("/"), route.method)
        for route in api.client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/v1") and route.method != "HEAD"
    }
    assert documented == served


async def test_every_reference_in_the_openapi_document_resolves(api: Api) -> None:
    document = await (await api.client.get("/v1/openapi.json")).json()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        target = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict)


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)


def test_the_document_states_the_applications_body_limit() -> None:
    assert f"body over {MAX_BODY_BYTES // 1024} KiB" in DOCUMENT["components"]["responses"]["TooLarge"]["description"]
