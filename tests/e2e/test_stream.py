"""/v1/stream against a real `tribe serve` (embedded): what a subscriber receives, exact resumes, tickets, the bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from events.routing import FOLLOWS
from services.stream import Cursor, partitions_read
from tests.e2e.server import Server, running_server
from tests.e2e.stream_client import Client, Received, Sse

TICKET_TTL = 3
LIMIT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"TRIBE_STREAM_TICKET_TTL": str(TICKET_TTL), "TRIBE_STREAM_LIMIT": str(LIMIT), "TRIBE_WRITE_WAIT": "30"}
    with running_server(tmp_path_factory.mktemp("stream") / "data", env=env) as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(http, server.url)


async def until(sse: Sse, position: str) -> list[Received]:
    """Messages up to the first whose id shows the stream has decided the event at `position`."""
    got = [await sse.next()]
    while not got[-1].covers(position):
        got.append(await sse.next())
    return got


async def test_a_subscriber_receives_its_feed_and_notifications_and_nothing_hidden(client: Client) -> None:
    sam, _ = await client.register("sam")
    ben, ben_id = await client.register("ben")
    cat, _ = await client.register("cat")
    dan, _ = await client.register("dan")
    eve, _ = await client.register("eve")
    for followee in ("ben", "dan", "eve"):
        await client.call("POST", f"/api/profiles/{followee}/follow", sam)
    tribe, _ = await client.call("POST", "/v1/tribes", cat, {"name": "Estates"})
    tribe_id = tribe["tribe"]["id"]
    await client.call("POST", f"/v1/tribes/{tribe_id}/join", sam)
    _, sams_slug, _ = await client.publish(sam, "Sam's own")
    await client.call("POST", "/v1/users/dan/block", sam)  # sam blocked dan
    await client.call("POST", "/v1/users/sam/block", eve)  # eve blocked sam

    async with client.stream(await client.ticket(sam)) as sse:
        assert sse.response is not None and sse.response.headers["Content-Type"] == "text/event-stream"
        bens, _, _ = await client.publish(ben, "Ben's news")
        feed = await sse.next()
        assert (feed.event, feed.data["article_id"], feed.data["author_id"]) == ("feed", bens, ben_id)
        assert feed.data["title"] == "Ben's news"

        await client.call("POST", f"/api/articles/{sams_slug}/favorite", ben)
        bump = await sse.next()
        assert (bump.event, bump.data["kind"], bump.data["actor_id"]) == ("notification", "bump", ben_id)

        comment = {"comment": {"body": "Nice one @sam"}}
        await client.call("POST", f"/api/articles/{sams_slug}/comments", ben, comment)
        commented = await sse.next()
        assert (commented.data["kind"], commented.data["mentions_you"]) == ("comment", True)

        await client.call("POST", "/api/profiles/sam/follow", ben)
        followed = await sse.next()
        assert (followed.data["kind"], followed.data["actor_id"]) == ("follow", ben_id)

        _, _, at_cats_own = await client.publish(cat, "Not followed, no tribe")
        cats_tribal, _, _ = await client.publish(cat, "In a joined tribe", tribe_id)
        _, _, at_dans = await client.publish(dan, "By someone sam blocked")
        _, _, at_eves = await client.publish(eve, "By someone who blocked sam")
        _, _, at_sams = await client.publish(sam, "Sam's own again")
        closing, _, at_closing = await client.publish(ben, "Ben's last")
        got = await until(sse, at_closing)
        while not all(got[-1].covers(at) for at in (at_cats_own, at_dans, at_eves, at_sams)):
            got.append(await sse.next())

    assert sorted(m.data.get("article_id") for m in got) == sorted([cats_tribal, closing])


async def test_reconnecting_with_the_last_id_while_writes_go_on_misses_nothing_and_repeats_nothing(
    client: Client,
) -> None:
    reader, _ = await client.register("reader")
    writers = [await client.register(f"writer{n}") for n in range(3)]
    for n in range(3):
        await client.call("POST", f"/api/profiles/writer{n}/follow", reader)
    total = 45
    published: list[str] = []

    async def write() -> None:
        for n in range(total):
            article_id, _, _ = await client.publish(writers[n % 3][0], f"Article {n}")
            published.append(article_id)

    received: list[str] = []
    last: str | None = None
    async with client.stream(await client.ticket(reader)) as sse:  # subscribed before the first write
        writing = asyncio.create_task(write())
        for _ in range(5):
            message = await sse.next()
            received.append(message.data["article_id"])
            last = message.id
    # Each reconnection reads a few messages and drops the connection, while the writer goes on.
    reconnections = 0
    while len(received) < total:
        by_header = reconnections % 2 == 0
        async with client.stream(await client.ticket(reader), last, header=by_header) as sse:
            for _ in range(7):
                if len(received) == total:
                    break
                message = await sse.next()
                received.append(message.data["article_id"])
                last = message.id
        reconnections += 1
    await writing
    assert reconnections >= 3
    assert len(received) == len(set(received)) == total
    assert set(received) == set(published)


async def status_of(client: Client, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    async with client.http.get(client.url + url, headers=headers or {}) as r:
        return r.status, await r.json()


async def test_a_stream_opens_only_with_a_valid_unexpired_ticket_of_a_current_session(client: Client) -> None:
    tia, _ = await client.register("tia")
    ticket = await client.ticket(tia)

    status, body = await status_of(client, "/v1/stream")
    assert status == 401 and "ticket" in body["errors"]  # type: ignore[operator]
    assert (await status_of(client, "/v1/stream?ticket=not-a-ticket"))[0] == 401
    assert (await status_of(client, f"/v1/stream?ticket={tia}"))[0] == 401  # an access token is no ticket
    assert (await status_of(client, "/api/user", {"Authorization": f"Token {ticket}"}))[0] == 401  # nor the reverse
    forged = ticket[:-2] + ("AA" if not ticket.endswith("AA") else "BB")
    assert (await status_of(client, f"/v1/stream?ticket={forged}"))[0] == 401
    async with client.http.post(client.url + "/v1/stream/tickets") as r:
        assert r.status == 401

    status, body = await status_of(client, f"/v1/stream?ticket={ticket}&last_event_id=a0.0")
    assert status == 400 and "last_event_id" in body["errors"]  # type: ignore[operator]
    # An id of the right form, past what the log has written (one of a log since reset): the stream would
    # wait, silent, for the log to pass it in that partition.
    ahead = Cursor(dict.fromkeys(partitions_read(), 0))
    ahead.offsets[(FOLLOWS, 1)] = 10**6
    status, body = await status_of(client, f"/v1/stream?ticket={ticket}&last_event_id={ahead.token()}")
    assert status == 400 and "past the end of the log" in body["errors"]["last_event_id"][0]  # type: ignore[index]

    await asyncio.sleep(TICKET_TTL + 1.5)
    status, body = await status_of(client, f"/v1/stream?ticket={ticket}")
    assert status == 401 and "expired" in str(body["errors"])

    revoked = await client.ticket(tia)
    await client.call("POST", "/v1/logout", tia, ok=(204,))
    status, body = await status_of(client, f"/v1/stream?ticket={revoked}")
    assert status == 401 and "logout" in str(body["errors"])


async def test_a_user_may_have_only_so_many_streams_open(client: Client) -> None:
    uma, _ = await client.register("uma")
    other, _ = await client.register("una")
    ticket = await client.ticket(uma)
    async with client.stream(ticket) as first, client.stream(ticket) as second:
        assert first.response is not None and second.response is not None
        assert first.response.status == second.response.status == 200
        status, body = await status_of(client, f"/v1/stream?ticket={ticket}")
        assert status == 429 and "streams" in body["errors"]  # type: ignore[operator]
        async with client.stream(await client.ticket(other)) as others:  # the bound is per user
            assert others.response is not None and others.response.status == 200
    # Both closed: the server frees their slots once it sees them gone.
    for _ in range(100):
        async with client.http.get(f"{client.url}/v1/stream?ticket={ticket}") as r:
            if r.status == 200:
                break
            assert r.status == 429
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the closed streams' slots were never freed")
