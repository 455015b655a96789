"""The social graph: profiles, follows and follow requests, blocks and a user's stats."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from events.catalogue import FollowApproved, FollowDenied, UserBlocked, UserFollowed, UserUnblocked, UserUnfollowed
from events.log import Position
from reducers.documents import Follow
from reducers.follows import follow_since
from services.errors import Forbidden, Invalid, NotFound
from services.outcome import Outcome, settle
from services.ports import Ports
from services.privacy import follow_opens, is_private, is_request
from services.views import Profile
from services.writer import envelope

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BlockState:
    username: str
    blocked: bool


@dataclass(frozen=True, slots=True)
class FollowRequest:
    """A user who asked to follow a private user, and when (ms)."""

    user: Body
    at: int


@dataclass(frozen=True, slots=True)
class FollowerState:
    """Where one follower stands after the followee's answer: still following, and opening them."""

    username: str
    following: bool
    approved: bool


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


async def seen_by(ports: Ports, target: Body, viewer: str | None) -> Profile:
    """The target as the viewer sees them: followed (and opened, when private), or requested."""
    if viewer is None:
        return Profile(target, following=False)
    follow = (await ports.reads.follow_docs(viewer, [target["user_id"]])).get(target["user_id"])
    opened = follow is not None and follow["active"] and (not is_private(target) or follow_opens(follow, target))
    return Profile(target, following=opened, requested=is_request(follow, target))


async def profile(ports: Ports, username: str, viewer: str | None, after: Sequence[Position] = ()) -> Profile:
    await ports.writer.caught_up(after)
    return await seen_by(ports, await user_named(ports, username, "profile"), viewer)


async def follow(ports: Ports, actor_id: str, username: str, *, on: bool) -> Outcome[Profile]:
    """Follow (on) or unfollow: always appended; the follows reducer settles a repeat as no change.

    Following a private user is a request until they approve it (the answer says `requested`).
    Not projected in time, the answer says following as asked, and requested when the users view
    shows the target private.
    """
    target = await user_named(ports, username, "profile")
    target_id = target["user_id"]
    if target_id == actor_id:
        raise Invalid("profile", "you cannot follow yourself")
    if on:
        await not_blocked_by(ports, actor_id, [target_id], "profile")
    event = (UserFollowed if on else UserUnfollowed)(**envelope(actor_id), followee_id=target_id)

    async def after_follow() -> Profile:
        return await seen_by(ports, target, actor_id)

    def provisional() -> Profile:
        requested = on and is_private(target)
        return Profile(target, following=on and not requested, requested=requested)

    return await settle(ports.writer, [event], after_follow, provisional=provisional)


async def follow_requests(
    ports: Ports, user_id: str, limit: int, after: Sequence[Position] = ()
) -> list[FollowRequest]:
    """The requests to follow the user that they have not answered, newest first (none while they are public).

    Reads the users view (when the user went private) and the follows view: active follows of the
    user not approved, newest first, up to the first that began before the user went private (that
    one, and every older one, counts as approved). The cost grows with the requests, not the followers.
    """
    await ports.writer.caught_up(after)
    me = await ports.reads.user(user_id)
    if me is None or not is_private(me):
        return []
    found: list[Body] = []
    async with contextlib.aclosing(ports.reads.newest_follows_of(user_id)) as follows:
        async for follow in follows:
            if not is_request(follow, me) or len(found) == limit:
                break
            found.append(follow)
    users = await ports.reads.users([f["follower_id"] for f in found])
    return [
        FollowRequest(users[f["follower_id"]], follow_since(cast(Follow, f)))
        for f in found
        if f["follower_id"] in users
    ]


async def answer_request(ports: Ports, actor_id: str, username: str, *, approve: bool) -> Outcome[FollowerState]:
    """Approve or deny `username`'s follow of the actor; a denial also removes an approved follower.

    Reads the follows view for that follow: only an active follow is answered, else NotFound
    (nothing appended). When the view is behind, a request made a moment ago is not found yet
    (the actor retries after its position, X-Tribe-After); a follow the log has ended since the
    view showed it is answered, and the follows reducer leaves it ended (the log decides): the
    answer is the state after.
    """
    follower = await user_named(ports, username, "follower")
    follower_id = follower["user_id"]
    follow = (await ports.reads.follow_docs(follower_id, [actor_id])).get(actor_id)
    if follow is None or not follow["active"]:
        raise NotFound("follow request")
    event = (FollowApproved if approve else FollowDenied)(**envelope(actor_id), follower_id=follower_id)

    async def answered() -> FollowerState:
        now = (await ports.reads.follow_docs(follower_id, [actor_id])).get(actor_id)
        active = now is not None and bool(now["active"])
        return FollowerState(follower["username"], active, active and now is not None and bool(now.get("approved")))

    return await settle(
        ports.writer, [event], answered, provisional=lambda: FollowerState(follower["username"], approve, approve)
    )


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
