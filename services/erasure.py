"""Account deletion: `DELETE /api/user` erases a user from every view, and their data key (docs/privacy.md).

The command appends `UserErased` and destroys the user's data key: from then on every copy of the
log holds their personal fields only as ciphertext nobody can open. What the views hold is
forgotten by the erasure runner (services/erasure_runner.py), which appends, for what the user
wrote or did elsewhere, the events that make each of those documents forget them.

`Erasure.react` decides those events for one `UserErased`. It reads the views (their articles,
comments, bumps, follows and memberships), which the runner first lets catch up with the log.
The events' ids derive from the erasure's, so deciding twice appends nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from events.catalogue import (
    ArticleErased,
    ArticleUnbumped,
    CommentErased,
    Event,
    TribeLeft,
    UserErased,
    UserUnfollowed,
)
from projections.queries import Footprint
from services.errors import Unauthenticated
from services.outcome import Written
from services.ports import Ports
from services.security import verify_password
from services.writer import envelope


async def erase_account(ports: Ports, actor_id: str, password: str) -> Written:
    """Erase the actor's account, once they gave their password again.

    The handles to free are read from the users view (the user's own document): a username the
    user claimed a moment ago, not yet projected, stays taken by no one.
    """
    user = await ports.reads.user(actor_id)
    if user is None:
        raise Unauthenticated("names no account")
    if not await asyncio.to_thread(verify_password, password, user["password_hash"]):
        raise Unauthenticated("is not this account's password", what="user.password")
    erased = UserErased(**envelope(actor_id), handles=tuple(user.get("handles", [])))
    written = await ports.writer.append([erased])
    await ports.keys.destroy(actor_id)
    return written


def _derived(erasure: UserErased, kind: str, of: str, make: Callable[..., Event], **fields: object) -> Event:
    """An event the erasure appends on the user's behalf: their actor, the erasure's time, an id from both."""
    return make(
        event_id=f"{erasure.event_id}.{kind}.{of}", actor_id=erasure.actor_id, occurred_at=erasure.occurred_at, **fields
    )


class Erasure:
    """Decides what an erasure appends: every document elsewhere that holds what the user wrote or did."""

    def __init__(self, footprint: Footprint) -> None:
        self.footprint = footprint

    @staticmethod
    def reacts_to(event: Event) -> bool:
        return isinstance(event, UserErased)

    async def react(self, event: Event) -> list[Event]:
        if not isinstance(event, UserErased):
            return []
        user = event.actor_id
        found = self.footprint
        decided: list[Event] = []
        for article_id in await found.articles_by(user):
            decided.append(_derived(event, "article", article_id, ArticleErased, article_id=article_id))
        for article_id, comment_id in await found.comments_by(user):
            decided.append(
                _derived(event, "comment", f"{article_id}:{comment_id}", CommentErased,
                         article_id=article_id, comment_id=comment_id)
            )
        for article_id in await found.bumped_by(user):
            decided.append(_derived(event, "bump", article_id, ArticleUnbumped, article_id=article_id))
        for followee_id in await found.followed_by(user):
            decided.append(_derived(event, "follow", followee_id, UserUnfollowed, followee_id=followee_id))
        for tribe_id in await found.tribes_of(user):
            decided.append(_derived(event, "tribe", tribe_id, TribeLeft, tribe_id=tribe_id))
        return decided
