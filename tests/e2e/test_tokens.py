"""Tokens bound to accounts: only for a user the read model knows, only until a logout or a password change.

Also the stored passwords: hashed with Argon2id (older scrypt hashes upgraded at the next login
without ending any session), and a login for an unknown e-mail verifying a hash as a wrong
password does.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest

from api.requests import PORTS
from events.catalogue import UserRegistered, UserUpdated
from events.ids import new_event_id
from events.log import Position
from events.routing import USERS
from services import accounts, security
from tests.e2e.conftest import Api, auth


async def status_of(api: Api, method: str, path: str, token: str, json: Any = None) -> int:
    r = await api.client.request(method, path, json=json, headers=auth(token))
    return r.status


async def login(api: Api, email: str, password: str) -> tuple[int, str | None]:
    r = await api.client.post("/api/users/login", json={"user": {"email": email, "password": password}})
    return r.status, (await r.json())["user"]["token"] if r.status == 200 else None


# -- whom a token names -----------------------------------------------------------------------


async def test_a_token_for_a_user_this_server_does_not_know_is_refused_on_every_authenticated_route(api: Api) -> None:
    """Signed with this server's secret (another server sharing it, a deleted account), naming nobody here."""
    author = await api.register("author")
    article = await api.publish(author)
    stranger = api.client.app[PORTS].tokens.issue(new_event_id())
    before = await api.log_size()
    calls = [
        ("GET", "/api/user", None),
        ("PUT", "/api/user", {"user": {"bio": "hi"}}),
        ("POST", "/api/articles", {"article": {"title": "t", "description": "d", "body": "b"}}),
        ("POST", f"/api/articles/{article['slug']}/comments", {"comment": {"body": "c"}}),
        ("POST", f"/api/articles/{article['slug']}/favorite", None),
        ("POST", "/api/profiles/author/follow", None),
        ("POST", "/v1/tribes", {"name": "Petrolheads"}),
        ("POST", "/v1/events", [{"type": "ArticleViewed", "article_id": article["slug"]}]),
        ("POST", "/v1/notifications/read", {}),
        ("GET", "/v1/feed", None),
        ("POST", "/v1/logout", None),
    ]
    answered = {f"{method} {path}": await status_of(api, method, path, stranger, body) for method, path, body in calls}
    assert answered == {f"{method} {path}": 401 for method, path, _ in calls}
    assert await api.log_size() == before


async def test_a_token_signed_with_another_secret_is_refused(api: Api) -> None:
    await api.register("alice")
    other_server = security.Tokens("another-server-secret-" + "y" * 40, 3600)
    user_id = api.client.app[PORTS].tokens.verify(await api.register("bob"))
    assert await status_of(api, "GET", "/api/user", other_server.issue(user_id)) == 401
    assert await status_of(api, "POST", "/v1/tribes", other_server.issue(user_id), {"name": "x"}) == 401


# -- logout and password changes -----------------------------------------------------------------


async def test_logout_ends_every_session_of_the_user_and_a_new_login_starts_one(api: Api) -> None:
    first = await api.register("alice")
    status, second = await login(api, "alice@example.com", "long-enough-pw")
    assert status == 200 and second is not None
    bob = await api.register("bob")

    r = await api.client.post("/v1/logout", headers=auth(first))
    assert r.status == 204, await r.text()
    assert r.headers["X-Tribe-Position"]

    for revoked in (first, second):
        assert await status_of(api, "GET", "/api/user", revoked) == 401
        assert await status_of(api, "POST", "/v1/tribes", revoked, {"name": "After logout"}) == 401
    assert await status_of(api, "GET", "/api/user", bob) == 200, "another user's session is untouched"
    status, third = await login(api, "alice@example.com", "long-enough-pw")
    assert status == 200 and third is not None
    assert await status_of(api, "GET", "/api/user", third) == 200


async def test_logout_needs_a_token(api: Api) -> None:
    r = await api.client.post("/v1/logout")
    assert r.status == 401


async def test_a_password_change_ends_older_sessions_and_answers_with_a_token_that_works(api: Api) -> None:
    old = await api.register("alice")
    status, other_device = await login(api, "alice@example.com", "long-enough-pw")
    assert status == 200 and other_device is not None

    r = await api.client.put("/api/user", json={"user": {"password": "a-new-long-password"}}, headers=auth(old))
    assert r.status == 200, await r.text()
    fresh = (await r.json())["user"]["token"]

    assert await status_of(api, "GET", "/api/user", old) == 401
    assert await status_of(api, "GET", "/api/user", other_device) == 401
    assert await status_of(api, "GET", "/api/user", fresh) == 200
    assert (await login(api, "alice@example.com", "long-enough-pw"))[0] == 401
    assert (await login(api, "alice@example.com", "a-new-long-password"))[0] == 200


async def test_a_profile_change_without_a_password_ends_no_session(api: Api) -> None:
    token = await api.register("alice")
    r = await api.client.put("/api/user", json={"user": {"bio": "drives"}}, headers=auth(token))
    assert r.status == 200, await r.text()
    assert await status_of(api, "GET", "/api/user", token) == 200


# -- password hashes -------------------------------------------------------------------------


def old_scrypt_hash(password: str) -> str:
    """A hash as this server wrote them before Argon2id: scrypt at N=2^14."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    encoded = [base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    return "$".join(["scrypt", str(2**14), "8", "1", *encoded])


async def test_an_old_scrypt_hash_still_verifies_and_is_upgraded_at_login_without_ending_a_session(api: Api) -> None:
    ports = api.client.app[PORTS]
    user_id = new_event_id()
    registered = UserRegistered(
        event_id=new_event_id(), actor_id=user_id, occurred_at=1, username="veteran",
        email="veteran@example.com", password_hash=old_scrypt_hash("an-old-password"),
    )
    _, reflected = await ports.writer.append_and_wait([registered])
    assert reflected

    status, first = await login(api, "veteran@example.com", "an-old-password")
    assert status == 200 and first is not None
    await ports.writer.caught_up(await _head_of_users(api))
    user = await ports.reads.user(user_id)
    assert user is not None
    assert user["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await status_of(api, "GET", "/api/user", first) == 200, "the upgrade ended the session"

    size = await api.log_size()
    status, second = await login(api, "veteran@example.com", "an-old-password")
    assert status == 200 and second is not None
    assert await api.log_size() == size, "an up-to-date hash is not rewritten"
    assert (await login(api, "veteran@example.com", "a-wrong-password"))[0] == 401


async def _head_of_users(api: Api) -> list[Position]:
    """The position of the last event in the users topic, to wait for it."""
    log = api.client.app[PORTS].writer.log
    return [Position(USERS, 0, await log.end_offset(USERS, 0) - 1)]


async def test_a_login_for_an_unknown_email_verifies_a_hash_as_a_wrong_password_does(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.register("alice")
    verified: list[str] = []
    real = security.verify_password

    def counting(password: str, stored: str) -> bool:
        verified.append(stored)
        return real(password, stored)

    monkeypatch.setattr(accounts, "verify_password", counting)
    assert (await login(api, "alice@example.com", "not-her-password"))[0] == 401
    assert (await login(api, "nobody@example.com", "not-her-password"))[0] == 401
    wrong_password, unknown_email = verified
    # The same algorithm and cost parameters: only the salt and the digest differ.
    assert wrong_password.rsplit("$", 2)[0] == unknown_email.rsplit("$", 2)[0]


async def test_a_password_change_is_told_apart_from_an_upgrade_in_the_log(api: Api) -> None:
    """The users reducer ends sessions on a new password, not on the same password rehashed."""
    token = await api.register("alice")
    ports = api.client.app[PORTS]
    user_id = ports.tokens.verify(token)
    r = await api.client.put("/api/user", json={"user": {"password": "a-new-long-password"}}, headers=auth(token))
    assert r.status == 200
    changed = await _last_user_event(api)
    assert isinstance(changed, UserUpdated) and changed.actor_id == user_id
    assert changed.password_hash is not None and not changed.rehashed


async def _last_user_event(api: Api) -> Any:
    ports = api.client.app[PORTS]
    (head,) = await _head_of_users(api)
    (entry,) = await ports.writer.log.read(USERS, 0, head.offset, 1)
    return (await ports.writer.codec.decode_batch([entry.value]))[0]
