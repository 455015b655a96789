"""The social graph: profiles, follows, blocks and a user's stats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import UserBlocked, UserFollowed, UserUnblocked, UserUnfollowed
from events.log import Position
from services.errors import Forbidden, Invalid, NotFound
from services.outcome import Outcome, settle
from services.ports import Ports
from services.views import Profile
from services.writer import envelope

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BlockState:
    username: str
    blocked: bool


async def user_named(ports: Ports, username: str, what: str) -> Body:
    """The user a username names, or NotFound naming `what`."""
    user = await ports.reads.user_by("username", username)
    if user is None:
        raise NotFound(what)
    return user


async def not_blocked_by(ports: Ports, actor_id: str, others: Sequence[str], what: str) -> None:
    """Forbidden if any of `others` has blocked the actor: a blocked user cannot follow, comment on or mention them.

    Reads the blocks view. When it is behind, a block made a moment ago is not enforced on this
    command yet; the reads that matter (feeds, notifications) hide the blocked user's actions
    both ways once it is projected.
    """
    others = [o for o in others if o != actor_id]
    if others and await ports.social.blockers_among(actor_id, others):
        raise Forbidden(what, "is not allowed: you have been blocked")


async def profile(ports: Ports, username: str, viewer: str | None, after: Sequence[Position] = ()) -> Profile:
    await ports.writer.caught_up(after)
    target = await user_named(ports, username, "profile")
    return Profile(target, bool(await ports.reads.following(viewer, [target["user_id"]])))


async def follow(ports: Ports, actor_id: str, username: str, *, on: bool) -> Outcome[Profile]:
    """Follow (on) or unfollow: always appended; the follows reducer settles a repeat as no change."""
    target = await user_named(ports, username, "profile")
    target_id = target["user_id"]
    if target_id == actor_id:
        raise Invalid("profile", "you cannot follow yourself")
    if on:
        await not_blocked_by(ports, actor_id, [target_id], "profile")
    event = (UserFollowed if on else UserUnfollowed)(**envelope(actor_id), followee_id=target_id)

    async def after_follow() -> Profile:
        return Profile(target, bool(await ports.reads.following(actor_id, [target_id])))

    return await settle(ports.writer, [event], after_follow, provisional=lambda: Profile(target, following=on))


async def block(ports: Ports, actor_id: str, username: str, *, on: bool) -> Outcome[BlockState]:
    """Block (on) or unblock: always appended; the follows reducer settles a repeat as no change."""
    target = await user_named(ports, username, "user")
    target_id = target["user_id"]
    if target_id == actor_id:
        raise Invalid("user", "you cannot block yourself")
    event = (UserBlocked if on else UserUnblocked)(**envelope(actor_id), blocked_id=target_id)

    async def after_block() -> BlockState:
        return BlockState(target["username"], bool(await ports.social.blockers_among(target_id, [actor_id])))

    return await settle(ports.writer, [event], after_block)


async def stats(ports: Ports, username: str, after: Sequence[Position] = ()) -> tuple[str, dict[str, int]]:
    await ports.writer.caught_up(after)
    user = await user_named(ports, username, "user")
    return user["username"], await ports.social.stats(user["user_id"])
