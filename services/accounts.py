"""Accounts: registration, login, the current user and their settings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import UserRegistered, UserUpdated
from events.ids import new_event_id
from events.log import Position
from services import rules
from services.errors import Invalid, Unauthenticated
from services.outcome import Outcome, settle
from services.ports import Ports
from services.security import hash_password, verify_password
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
        return Session(user, ports.tokens.issue(user_id))

    return await settle(ports.writer, [event], registered)


async def login(ports: Ports, email: str, password: str) -> Session:
    user = await ports.reads.user_by("email", email)
    if user is None or not await asyncio.to_thread(verify_password, password, user["password_hash"]):
        raise Unauthenticated("email or password is invalid", what="credentials")
    return Session(user, ports.tokens.issue(user["user_id"]))


async def current_user(ports: Ports, user_id: str, after: Sequence[Position] = ()) -> Body:
    await ports.writer.caught_up(after)
    user = await ports.reads.user(user_id)
    if user is None:
        raise Unauthenticated("names a user that does not exist")
    return user


async def update_user(ports: Ports, cmd: UpdateUser) -> Outcome[Body]:
    """Append the changes; a username or e-mail someone else holds is refused.

    Reads the handles view to refuse a taken name at once. When it is behind, the users
    reducer keeps the name with its first holder, and the update reads back the user to tell.
    """
    reads = ports.reads
    me = cmd.actor_id
    if await reads.user(me) is None:
        raise Unauthenticated("names a user that does not exist")
    for kind, value, check in (("username", cmd.username, rules.username), ("email", cmd.email, rules.email)):
        if value is not None:
            check(value)
            if (await reads.holder(kind, value)) not in (None, me):
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

    async def updated() -> Body:
        user = await reads.user(me)
        if user is None:
            raise Unauthenticated("names a user that does not exist")
        for kind, value in (("username", cmd.username), ("email", cmd.email)):
            if value is not None and user[kind] != value:
                raise Invalid(kind, "has already been taken")
        return user

    return await settle(ports.writer, [event], updated)
