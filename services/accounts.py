"""Accounts: registration, login and logout, who a token acts as, the current user and their settings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from events.catalogue import Event, ProfilePrivacySet, UserLoggedOut, UserRegistered, UserUpdated
from events.ids import new_event_id
from events.log import Position
from services import rules
from services.errors import Invalid, Unauthenticated
from services.outcome import Outcome, nothing, settle
from services.ports import Ports
from services.security import hash_password, needs_rehash, unknown_user_hash, verify_password
from services.writer import envelope, now_ms

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Register:
    username: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class Session:
    """A user and a token that acts as them."""

    user: Body
    token: str


@dataclass(frozen=True, slots=True)
class UpdateUser:
    """New values for the fields given; None leaves a field as it is."""

    actor_id: str
    username: str | None = None
    email: str | None = None
    password: str | None = None
    bio: str | None = None
    image: str | None = None
    display_name: str | None = None
    private: bool | None = None
    """Make the profile private (True) or public again (False): a `ProfilePrivacySet` (services/privacy.py)."""


async def register(ports: Ports, cmd: Register) -> Outcome[Session]:
    """Append a registration; the log decides who gets a username or e-mail first.

    Reads the handles view first, to answer "taken" at once in the common case. That view may
    be behind: then both claims are appended, the users reducer (one partition, one order)
    gives the name to the first, and the second finds after the write that its user does not
    exist, and is told which name was taken.
    """
    username, email = rules.username(cmd.username), rules.email(cmd.email)
    password = rules.password(cmd.password)
    reads = ports.reads
    if await reads.holder("username", username):
        raise Invalid("username", "has already been taken")
    if await reads.holder("email", email):
        raise Invalid("email", "has already been taken")
    user_id = new_event_id()
    event = UserRegistered(
        event_id=new_event_id(),
        actor_id=user_id,
        occurred_at=now_ms(),
        username=username,
        email=email,
        password_hash=await asyncio.to_thread(hash_password, password),
    )

    async def registered() -> Session:
        user = await reads.user(user_id)
        if user is None:
            taken = "username" if await reads.holder("username", username) != user_id else "email"
            raise Invalid(taken, "has already been taken")
        return _session(ports, user)

    return await settle(ports.writer, [event], registered, wait=ports.registration_wait)


async def login(ports: Ports, email: str, password: str) -> Session:
    """A session for the user with this e-mail and password.

    An unknown e-mail costs one hash verification too, as a wrong password does. A password stored
    under older hashing parameters is hashed again and the new hash appended, marked `rehashed`:
    the same password, so the user's other sessions go on.
    """
    user = await ports.reads.user_by("email", email)
    stored = user["password_hash"] if user is not None else None
    matches = await asyncio.to_thread(_password_matches, password, stored)
    if user is None or not matches:
        raise Unauthenticated("email or password is invalid", what="credentials")
    if needs_rehash(user["password_hash"]):
        rehashed = await asyncio.to_thread(hash_password, password)
        await ports.writer.append([UserUpdated(**envelope(user["user_id"]), password_hash=rehashed, rehashed=True)])
    return _session(ports, user)


def _password_matches(password: str, stored: str | None) -> bool:
    """Verify against the stored hash, or (no such user) against a hash of a password nobody knows."""
    return verify_password(password, stored if stored is not None else unknown_user_hash()) and stored is not None


def _session(ports: Ports, user: Body) -> Session:
    """A token for the user, valid until their next logout or password change."""
    return Session(user, ports.tokens.issue(user["user_id"], int(user.get("token_generation", 0))))


async def authenticate(ports: Ports, token: str) -> str:
    """The id of the user a token acts as.

    Unauthenticated unless the token is validly signed and unexpired, names a user the users view
    knows, and was issued at their current token generation or later (no logout or new password
    since). The generation is remembered for a second (`Generations`): a logout through another
    API process takes effect here within a second of its projection.
    """
    try:
        claims = ports.tokens.claims(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"is invalid ({exc})") from None
    generation = await ports.generations.get(claims.user_id)
    if generation is None:
        raise Unauthenticated("names a user that does not exist")
    if claims.generation < generation:
        raise Unauthenticated("was revoked by a logout or a password change; log in again")
    return claims.user_id


async def logout(ports: Ports, actor_id: str) -> Outcome[None]:
    """End every session of the actor: the users reducer bumps their token generation, refusing older tokens."""
    outcome = await settle(ports.writer, [UserLoggedOut(**envelope(actor_id))], nothing)
    ports.generations.forget(actor_id)
    return outcome


async def current_user(ports: Ports, user_id: str, after: Sequence[Position] = ()) -> Body:
    await ports.writer.caught_up(after)
    user = await ports.reads.user(user_id)
    if user is None:
        raise Unauthenticated("names a user that does not exist")
    return user


async def update_user(ports: Ports, cmd: UpdateUser) -> Outcome[Session]:
    """Append the changes; a username or e-mail someone else holds is refused.

    Reads the handles view to refuse a taken name at once. When it is behind, the users
    reducer keeps the name with its first holder, and the update reads back the user to tell.
    A name the view shows as the user's own is not judged by today's rules (it may be of older
    ones); shown so by a view behind a rename, it is still the user's, since a name left stays its
    holder's (reducers/users.py).
    A new password ends every session of the user; the answer carries a token of the new one.
    `private` alone appends only a `ProfilePrivacySet`, which the users reducer settles (a repeat
    changes nothing); with other fields, both events go in one append, in one partition's order.
    """
    reads = ports.reads
    me = cmd.actor_id
    if await reads.user(me) is None:
        raise Unauthenticated("names a user that does not exist")
    for kind, value, check in (("username", cmd.username, rules.username), ("email", cmd.email, rules.email)):
        if value is not None:
            holder = await reads.holder(kind, value)
            if holder != me:  # a new one; what the user holds already may be of rules older than these
                check(value)
                if holder is not None:
                    raise Invalid(kind, "has already been taken")
    password_hash = None
    if cmd.password is not None:
        password_hash = await asyncio.to_thread(hash_password, rules.password(cmd.password))
    event = UserUpdated(
        **envelope(me),
        username=cmd.username,
        email=cmd.email,
        bio=rules.text(cmd.bio, "bio", max_length=10_000, blank=True) if cmd.bio is not None else None,
        image=rules.text(cmd.image, "image", max_length=2_000, blank=True) if cmd.image is not None else None,
        password_hash=password_hash,
        display_name=(
            rules.text(cmd.display_name, "displayName", max_length=100) if cmd.display_name is not None else None
        ),
    )
    changes = (cmd.username, cmd.email, cmd.password, cmd.bio, cmd.image, cmd.display_name)
    events: list[Event] = [] if cmd.private is not None and all(c is None for c in changes) else [event]
    if cmd.private is not None:
        events.append(ProfilePrivacySet(**envelope(me), private=cmd.private))

    async def updated() -> Session:
        user = await reads.user(me)
        if user is None:
            raise Unauthenticated("names a user that does not exist")
        for kind, value in (("username", cmd.username), ("email", cmd.email)):
            if value is not None and user[kind] != value:
                raise Invalid(kind, "has already been taken")
        return _session(ports, user)

    outcome = await settle(ports.writer, events, updated)
    if password_hash is not None:
        ports.generations.forget(me)
    return outcome
