"""A Server-Sent Events reader over aiohttp, and the calls the stream tests make."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
import jwt

from events.log import Position
from services.stream import Cursor

PASSWORD = "long-enough-pw"


@dataclass(frozen=True, slots=True)
class Received:
    id: str
    event: str
    data: dict[str, Any]

    def covers(self, position: str) -> bool:
        """Whether the stream had decided the event at `position` (an X-Tribe-Position) when it sent this."""
        at = Position.parse(position)
        return Cursor.parse(self.id).offsets[(at.topic, at.partition)] > at.offset


class Sse:
    """One open GET /v1/stream, read message by message."""

    def __init__(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> None:
        self._request = http.get(url, headers=headers or {}, timeout=aiohttp.ClientTimeout(total=None, sock_read=60))
        self.response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> Sse:
        self.response = await self._request.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._request.__aexit__(kind, exc, tb)

    async def next(self) -> Received:
        """The next message (pings, lines starting with ':', are skipped)."""
        assert self.response is not None and self.response.status == 200, self.response
        fields: dict[str, str] = {}
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the server ended the stream")
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if "data" in fields:
                    return Received(fields["id"], fields.get("event", "message"), json.loads(fields["data"]))
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value


class Client:
    """Conduit and /v1 calls against a running server."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, ok: tuple[int, ...] = (200, 201)
    ) -> tuple[Any, str | None]:
        """The JSON answer and the X-Tribe-Position of a call that must answer one of `ok`."""
        headers = {"Authorization": f"Token {token}"} if token else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            assert r.status in ok, (method, path, r.status, await r.text())
            answer = await r.json() if r.content_type == "application/json" else None
            return answer, r.headers.get("X-Tribe-Position")

    async def register(self, name: str) -> tuple[str, str]:
        """A new user's token and id; logged in afterwards, so their registration is projected."""
        user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        await self.call("POST", "/api/users", body={"user": user}, ok=(201, 202))
        login = {"user": {"email": user["email"], "password": PASSWORD}}
        for _ in range(300):
            async with self.http.post(self.url + "/api/users/login", json=login) as r:
                if r.status == 200:
                    token: str = (await r.json())["user"]["token"]
                    return token, str(jwt.decode(token, options={"verify_signature": False})["sub"])
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name} never could log in")

    async def ticket(self, token: str) -> str:
        answer, _ = await self.call("POST", "/v1/stream/tickets", token, ok=(201,))
        return str(answer["ticket"])

    async def publish(self, token: str, title: str, tribe_id: str | None = None) -> tuple[str, str, str]:
        """A new article's id, slug and position."""
        body: dict[str, Any] = {"title": title, "description": "d", "body": "b"}
        if tribe_id:
            body["tribe_id"] = tribe_id
        answer, position = await self.call("POST", "/v1/articles", token, body, ok=(201,))
        assert position is not None
        return str(answer["article"]["id"]), str(answer["article"]["slug"]), position

    def stream(self, ticket: str, last_event_id: str | None = None, *, header: bool = True) -> Sse:
        url = f"{self.url}/v1/stream?ticket={ticket}"
        if last_event_id and not header:
            url += f"&last_event_id={last_event_id}"
        headers = {"Last-Event-ID": last_event_id} if last_event_id and header else {}
        return Sse(self.http, url, headers)
