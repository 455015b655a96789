"""Bad input gets a clear 4xx in JSON, and nothing reaches the log."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time

import jwt
import pytest

from tests.e2e.conftest import Api, auth


async def _rejected(api: Api, response, status: int, what: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status == status, await response.text()
    body = await response.json()
    assert what in body["errors"], body


@pytest.mark.parametrize(
    ("raw", "status", "what"),
    [
        (b"{not json", 400, "body"),
        (b"", 400, "body"),
        (b"[]", 422, "body"),
        (b'{"user": {"username": "a", "email": "a@x.io", "password": "long-enough", "admin": true}}', 422, "admin"),
        (b'{"user": {"username": 5, "email": "a@x.io", "password": "long-enough"}}', 422, "username"),
        (b'{"user": {"email": "a@x.io", "password": "long-enough"}}', 422, "username"),
        (b'{"user": {"username": "a b", "email": "a@x.io", "password": "long-enough"}}', 422, "username"),
        (b'{"user": {"username": "ab", "email": "not-an-email", "password": "long-enough"}}', 422, "email"),
        # A pattern's $ also matches before a last newline: "target\n" would stand beside "target", looking the same.
        (b'{"user": {"username": "target\\n", "email": "a@x.io", "password": "long-enough"}}', 422, "username"),
        (b'{"user": {"username": "ab", "email": "a@x.io\\n", "password": "long-enough"}}', 422, "email"),
        # `.` and `..`: a browser resolves /api/profiles/.. away, so no front end could reach that profile.
        (b'{"user": {"username": "..", "email": "a@x.io", "password": "long-enough"}}', 422, "username"),
        (b'{"user": {"username": ".", "email": "a@x.io", "password": "long-enough"}}', 422, "username"),
        (b'{"user": {"username": "ab", "email": "a@x.io", "password": "short"}}', 422, "password"),
        (b'{"user": {}, "extra": 1}', 422, "extra"),
    ],
)
async def test_bad_registration_is_rejected_and_appends_nothing(api: Api, raw: bytes, status: int, what: str) -> None:
    before = await api.log_size()
    r = await api.client.post("/api/users", data=raw, headers={"Content-Type": "application/json"})
    await _rejected(api, r, status, what)
    assert await api.log_size() == before


async def test_oversized_body_is_413_in_json(api: Api) -> None:
    token = await api.register("big")
    before = await api.log_size()
    r = await api.client.post(
        "/api/articles",
        json={"article": {"title": "t", "description": "d", "body": "x" * 400_000}},
        headers=auth(token),
    )
    await _rejected(api, r, 413, "body")
    assert await api.log_size() == before


async def test_missing_and_invalid_tokens_are_401(api: Api) -> None:
    await _rejected(api, await api.client.get("/api/user"), 401, "token")
    await _rejected(api, await api.client.get("/api/user", headers=auth("not.a.jwt")), 401, "token")
    await _rejected(api, await api.client.get("/api/user", headers={"Authorization": "Basic abc"}), 401, "token")
    forged = jwt.encode(
        {"sub": "someone", "iss": "tribestream", "iat": 1, "exp": int(time.time()) + 60},
        "a-different-secret-of-sufficient-length-0123456789",
    )
    await _rejected(api, await api.client.get("/api/user", headers=auth(forged)), 401, "token")
    unsigned = jwt.encode(
        {"sub": "someone", "iss": "tribestream", "iat": 1, "exp": int(time.time()) + 60}, None, algorithm="none"
    )
    await _rejected(api, await api.client.get("/api/user", headers=auth(unsigned)), 401, "token")


async def test_expired_token_is_401(api: Api) -> None:
    token = await api.register("expiring")
    secret = "test-secret-" + "x" * 40
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="tribestream")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, secret, algorithm="HS256")
    await _rejected(api, await api.client.get("/api/user", headers=auth(expired)), 401, "token")


async def test_someone_elses_article_and_comment_are_403_and_append_nothing(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    article = await api.publish(alice)
    slug = article["slug"]
    r = await api.client.post(f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=auth(alice))
    comment_id = (await r.json())["comment"]["id"]
    before = await api.log_size()
    await _rejected(
        api,
        await api.client.put(f"/api/articles/{slug}", json={"article": {"body": "mine"}}, headers=auth(bob)),
        403,
        "article",
    )
    await _rejected(api, await api.client.delete(f"/api/articles/{slug}", headers=auth(bob)), 403, "article")
    await _rejected(
        api, await api.client.delete(f"/api/articles/{slug}/comments/{comment_id}", headers=auth(bob)), 403, "comment"
    )
    assert await api.log_size() == before


async def test_missing_things_are_404(api: Api) -> None:
    token = await api.register("finder")
    await _rejected(api, await api.client.get("/api/articles/no-such-slug"), 404, "article")
    await _rejected(
        api, await api.client.post("/api/articles/no-such-slug/favorite", headers=auth(token)), 404, "article"
    )
    await _rejected(api, await api.client.get("/api/profiles/nobody"), 404, "profile")
    await _rejected(api, await api.client.get("/api/nothing-here"), 404, "request")
    article = await api.publish(token)
    r = await api.client.post(
        f"/api/articles/{article['slug']}/comments", json={"comment": {"body": "tenth"}}, headers=auth(token)
    )
    comment_id = (await r.json())["comment"]["id"]
    spelled_otherwise = "_".join(str(comment_id))  # int() reads 1_2_3 as 123: no comment has that id
    for missing in ("12345", spelled_otherwise, f"%20{comment_id}", f"0{comment_id}"):
        await _rejected(
            api,
            await api.client.delete(f"/api/articles/{article['slug']}/comments/{missing}", headers=auth(token)),
            404,
            "comment",
        )


async def test_native_events_validate_every_event_before_appending_any(api: Api) -> None:
    token = await api.register("native")
    article = await api.publish(token)
    r = await api.client.get(f"/api/articles/{article['slug']}")
    assert r.status == 200
    before = await api.log_size()
    cases = [
        ([{"type": "ArticleDeleted", "article_id": "x"}], 422, "events[0].type"),
        ([{"type": "ArticleViewed"}], 422, "events[0].article_id"),
        ([{"type": "ArticleViewed", "article_id": 7}], 422, "events[0].article_id"),
        ([{"type": "ArticleViewed", "article_id": "nope"}], 404, "events[0].article_id"),
        ([{"type": "UserFollowed", "followee_id": "ghost"}], 404, "events[0].followee_id"),
        ([{"type": "ArticleViewed", "article_id": "a", "actor_id": "someone-else"}], 422, "events[0].actor_id"),
        ([{"type": "ArticleViewed", "article_id": "a", "event_id": "bad id!"}], 422, "events[0].event_id"),
        ([{"type": "ArticleViewed", "article_id": "a", "event_id": "abcdefgh\n"}], 422, "events[0].event_id"),
        ({"type": "ArticleViewed"}, 422, "body"),
        # A count tells what 16 toggles of one target by one actor moved when a cut write comes again, not more.
        ([{"type": "ArticleBumped", "article_id": "a"}] * 9 + [{"type": "ArticleUnbumped", "article_id": "a"}] * 8,
         422, "events[16].article_id"),
        ([{"type": "UserFollowed", "followee_id": "b"}, {"type": "UserUnfollowed", "followee_id": "b"}] * 9,
         422, "events[16].followee_id"),
    ]
    for body, status, what in cases:
        await _rejected(api, await api.client.post("/v1/events", json=body, headers=auth(token)), status, what)
    assert await api.log_size() == before
    await _rejected(api, await api.client.post("/v1/events", json=[{"type": "ArticleViewed"}]), 401, "token")


async def test_paging_out_of_range_is_400_naming_the_parameter(api: Api) -> None:
    token = await api.register("reader")
    cases = (
        ("offset=99999999999999999999999", "offset"),
        ("offset=-1", "offset"),
        ("offset=ten", "offset"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=0&offset=-1", "limit"),
        # What Python's int() reads but a URL's integer is not: underscores, spaces, other digits.
        ("limit=1_0", "limit"),
        ("limit=%201%20", "limit"),
        ("limit=%EF%BC%91", "limit"),
        ("offset=%D9%A3", "offset"),
        ("offset=010", "offset"),
        ("offset=-0", "offset"),
    )
    for query, blamed in cases:
        for path in ("/api/articles", "/api/articles/feed"):
            r = await api.client.get(f"{path}?{query}", headers=auth(token))
            assert r.status == 400, await r.text()
            assert list((await r.json())["errors"]) == [blamed], query


async def test_marking_notifications_read_in_the_future_is_refused_and_appends_nothing(api: Api) -> None:
    token = await api.register("reader")
    before = await api.log_size()
    future = int(time.time() * 1000) + 86_400_000
    for up_to in (future, -1):
        r = await api.client.post("/v1/notifications/read", json={"up_to": up_to}, headers=auth(token))
        await _rejected(api, r, 422, "up_to")
    assert await api.log_size() == before


async def test_blocking_yourself_or_lifting_a_block_of_yourself_is_refused_and_appends_nothing(api: Api) -> None:
    token = await api.register("ann")
    before = await api.log_size()
    for method in ("POST", "DELETE"):
        await _rejected(api, await api.client.request(method, "/v1/users/ann/block", headers=auth(token)), 422, "user")
    assert await api.log_size() == before


async def test_a_read_after_a_position_the_log_has_not_written_is_refused_at_once(api: Api) -> None:
    """X-Tribe-After cannot hold a read for the whole write wait: past the head or off the partitions is a 400."""
    await api.register("ann")
    for after in ("tribe.users:0:999999", "tribe.users:7:0", "tribe.nothing:0:0", "tribe.users:0:-1"):
        started = time.monotonic()
        r = await api.client.get("/api/articles", headers={"X-Tribe-After": after})
        assert r.status == 400, (after, await r.text())
        assert "after" in (await r.json())["errors"]
        assert time.monotonic() - started < 1.0


async def test_a_read_after_a_position_the_log_has_written_waits_and_answers(api: Api) -> None:
    token = await api.register("ann")
    r = await api.client.post(
        "/api/articles", json={"article": {"title": "t", "description": "d", "body": "b"}}, headers=auth(token)
    )
    position = r.headers["X-Tribe-Position"]
    r = await api.client.get("/api/articles", headers={"X-Tribe-After": position})
    assert r.status == 200 and (await r.json())["articlesCount"] == 1


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        str(2**63) + ".x",
        "1234567890123456789.x",
        "1.5.x",
        "01.x",
        "-0.x",
        "true.x",
        "1.",
        ".x",
        "1.x y",
        "1.x\n",
        "\u0661.x",
        _cursor([1, "x"]),
    ],
)
@pytest.mark.parametrize("path", ["/v1/tribes", "/v1/feed"])
async def test_a_cursor_this_api_did_not_give_out_is_a_400(api: Api, path: str, cursor: str) -> None:
    token = await api.register("ann")
    r = await api.client.get(path, params={"cursor": cursor}, headers=auth(token))
    assert r.status == 400, await r.text()
    assert "cursor" in (await r.json())["errors"]


@pytest.mark.parametrize("cursor", ["", "0.0", "-123456789012345678.ZZZ", "123456789012345678.abc"])
@pytest.mark.parametrize("path", ["/v1/tribes", "/v1/feed"])
async def test_any_cursor_of_the_documented_form_is_a_page(api: Api, path: str, cursor: str) -> None:
    """The OpenAPI document's pattern for cursors admits exactly what the server takes."""
    token = await api.register("ann")
    r = await api.client.get(path, params={"cursor": cursor}, headers=auth(token))
    assert r.status == 200, await r.text()


async def test_pages_deeper_than_either_store_serves_are_a_400(api: Api) -> None:
    """Elasticsearch answers at most offset + limit = 10,000; SQLite refuses the same."""
    assert (await api.client.get("/api/articles", params={"offset": "9990", "limit": "10"})).status == 200
    r = await api.client.get("/api/articles", params={"offset": "9991", "limit": "10"})
    assert r.status == 400 and list((await r.json())["errors"]) == ["offset"]


@pytest.mark.parametrize("kind", [["ArticleViewed"], {"a": 1}, 7, None])
async def test_an_event_type_that_is_not_a_string_is_a_422(api: Api, kind: object) -> None:
    token = await api.register("ann")
    before = await api.log_size()
    r = await api.client.post("/v1/events", json=[{"type": kind, "article_id": "x"}], headers=auth(token))
    assert r.status == 422, await r.text()
    assert await api.log_size() == before


async def test_marking_notifications_read_up_to_null_means_now(api: Api) -> None:
    token = await api.register("ann")
    r = await api.client.post("/v1/notifications/read", json={"up_to": None}, headers=auth(token))
    assert r.status == 200, await r.text()
    assert isinstance((await r.json())["read_up_to"], int)


async def test_an_integer_written_with_a_fraction_of_zero_is_that_integer(api: Api) -> None:
    """JSON has one kind of number: 410.0 is the integer 410, as JSON Schema (and the OpenAPI document) reads it."""
    token = await api.register("ann")
    r = await api.client.post(
        "/v1/notifications/read", data=b'{"up_to": 410.0}', headers={**auth(token), "Content-Type": "application/json"}
    )
    assert r.status == 200, await r.text()
    assert (await r.json())["read_up_to"] == 410
    r = await api.client.post("/v1/notifications/read", json={"up_to": 410.5}, headers=auth(token))
    await _rejected(api, r, 422, "up_to")


@pytest.mark.parametrize("prefix", ["a\ud7ff", "\U0010ffff"])
async def test_a_username_prefix_ending_in_the_last_code_points_is_searched(api: Api, prefix: str) -> None:
    r = await api.client.get("/v1/search/users", params={"prefix": prefix})
    assert r.status == 200, await r.text()
    assert (await r.json())["users"] == []


async def test_a_method_a_route_lacks_is_a_405_naming_the_methods_it_has(api: Api) -> None:
    token = await api.register("ann")
    for headers in ({}, auth(token), auth("not-a-token")):
        r = await api.client.request("TRACE", "/v1/tribes", headers=headers)
        assert r.status == 405, await r.text()
        assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    r = await api.client.patch("/api/articles/some-slug/favorite", headers=auth("not-a-token"))
    assert r.status == 405 and set(r.headers["Allow"].split(", ")) == {"POST", "DELETE"}


async def test_the_feed_is_not_an_article_named_feed(api: Api) -> None:
    token = await api.register("ann")
    for method in ("PUT", "DELETE", "OPTIONS"):
        r = await api.client.request(method, "/api/articles/feed", headers=auth(token))
        assert r.status == 405, await r.text()
        assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize(
    "after", ["tribe.users:0:+0", "tribe.users:0:00", "tribe.users:0:0,", ",tribe.users:0:0", "tribe.users:0:\u0660"]
)
async def test_a_position_outside_the_documented_form_is_a_400(api: Api, after: str) -> None:
    """The OpenAPI document's pattern for X-Tribe-After admits exactly what the server parses."""
    await api.register("ann")
    for r in (
        await api.client.get("/api/tags", headers={"X-Tribe-After": after}),
        await api.client.get("/api/tags", params={"after": after}),
    ):
        assert r.status == 400, (after, await r.text())
        assert "after" in (await r.json())["errors"]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "rally", "tag": ""},
        {"q": "rally", "tag": "  "},
        {"q": " ", "tag": "rally"},
        {"q": "rally", "tag": "\ufeff"},  # blank to JSON Schema's regexes, not to Python's
        {"q": "\x1f", "tag": "rally"},  # blank to Python's, not to JSON Schema's
    ],
)
async def test_a_blank_search_term_beside_another_is_a_400(api: Api, params: dict[str, str]) -> None:
    """q, tag or both: each one sent must hold something (as /v1/openapi.json says), whatever the other holds."""
    r = await api.client.get("/v1/search/articles", params=params)
    await _rejected(api, r, 400, next(name for name, value in params.items() if value != "rally"))


@pytest.mark.parametrize("name", ["\ufeff", "\x1f \u3000", "\u2028"])
async def test_a_name_of_blanks_in_either_regex_dialect_is_refused_as_the_document_says(api: Api, name: str) -> None:
    """/v1/openapi.json's "not blank" pattern refuses the name, read as JSON Schema's regexes or Python's, and so
    does the server (a name of a byte-order mark alone was a tribe)."""
    token = await api.register("blanks")
    document = await (await api.client.get("/v1/openapi.json")).json()
    body = document["paths"]["/v1/tribes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert re.search(body["properties"]["name"]["pattern"], name) is None
    before = await api.log_size()
    await _rejected(api, await api.client.post("/v1/tribes", json={"name": name}, headers=auth(token)), 422, "name")
    assert await api.log_size() == before


@pytest.mark.parametrize(
    "params", [{"q": "rally", "tags": "cars"}, {"tag": "cars", "": "x"}, {"q": "rally", "page": "2"}]
)
async def test_a_search_with_a_parameter_it_does_not_take_is_a_400(api: Api, params: dict[str, str]) -> None:
    """/v1/openapi.json lists q, tag, limit and after and no other (the search object's additionalProperties is
    false): `tags` for `tag` is refused, not ignored with matches for `q` alone."""
    r = await api.client.get("/v1/search/articles", params=params)
    await _rejected(api, r, 400, "query")
    assert (await api.client.get("/v1/search/articles", params={"q": "rally", "limit": "5"})).status == 200


async def test_the_tag_limits_apply_to_the_list_as_sent_and_a_refusal_appends_nothing(api: Api) -> None:
    """At most 20 tags of at most 64 characters, as /v1/openapi.json's maxItems and maxLength say: counted before
    blanks and repeats are dropped, so a schema-invalid list is never accepted by what trimming leaves of it."""
    token = await api.register("ann")
    before = await api.log_size()
    for tags in ([""] * 21, ["a"] * 21, [" " * 64 + "a"]):
        r = await api.client.post("/v1/articles", json={"title": "T", "body": "b", "tags": tags}, headers=auth(token))
        await _rejected(api, r, 422, "tags")
        article = {"title": "T", "description": "d", "body": "b", "tagList": tags}
        await _rejected(api, await api.client.post("/api/articles", json={"article": article}, headers=auth(token)),
                        422, "tagList")
    assert await api.log_size() == before
    sent = ["", " a ", "a", "b", *(f"t{n}" for n in range(16))]
    r = await api.client.post("/v1/articles", json={"title": "T", "body": "b", "tags": sent}, headers=auth(token))
    assert r.status == 201, await r.text()
    assert sorted((await r.json())["article"]["tags"]) == sorted(["a", "b", *(f"t{n}" for n in range(16))])


async def _raw(api: Api, request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """Send bytes no HTTP client would, and read the whole answer (the server closes the connection)."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line.encode(), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "problem"),
    [
        (b"GET /v1/feed?limit=" + b"9" * 9_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "longer than 8190 bytes"),
        (b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Long: " + b"y" * 9_000 + b"\r\n\r\n", "longer than 8190 bytes"),
        (b"GET /api/tags HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", "not an HTTP request"),
        (b"G(T /api/tags HTTP/1.1\r\nHost: x\r\n\r\n", "not an HTTP request"),
    ],
    ids=["long request line", "long header", "space in a header name", "method not a token"],
)
async def test_a_request_the_http_parser_refuses_is_answered_400_in_json(
    api: Api, request_bytes: bytes, problem: str
) -> None:
    """aiohttp answers these before any middleware runs (api/unparsable.py), and in plain text by itself."""
    status_line, headers, body = await _raw(api, request_bytes)
    assert status_line.split()[1] == b"400", status_line
    assert headers["content-type"].startswith("application/json"), headers
    (reason,) = json.loads(body)["errors"]["request"]
    assert problem in reason
