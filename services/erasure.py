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
    ContentReportErased,
    Event,
    TribeLeft,
    UserErased,
    UserReportErased,
    UserUnfollowed,
)
from events.routing import USERS
from projections.queries import Footprint
from projections.views import USERS_VIEW
from reducers.moderation import target_of
from services.errors import Unauthenticated, Unavailable
from services.outcome import Outcome, nothing, settle
from services.ports import Ports
from services.security import verify_password
from services.writer import envelope


async def erase_account(ports: Ports, actor_id: str, password: str) -> Outcome[None]:
    """Erase the actor's account, once they gave their password again.

    The handles to free are read from the users view (the user's own document), and `UserErased`
    lists them: its reducer cannot read the document to find which handles to write, and a handle
    left off stays the erased user's for good. A view that has not folded a username or e-mail
    change of a moment ago would leave the new one off, so the read waits until the users view
    reflects `tribe.users` as the log holds it now, every change acknowledged before this command
    included; if it does not within the write wait, nothing is done (Unavailable: retry). A change
    the user sends while this command runs may still land between that read and the erasure: the
    users view keeps the handles it claimed in the erased document, and the erasure runner frees
    them with a second `UserErased` (Erasure.react).
    """
    if not await ports.writer.caught_up_with(USERS, views=(USERS_VIEW.name,)):
        raise Unavailable("store", "the users view is behind the log, and may not show every name of yours; retry", 1.0)
    user = await ports.reads.user(actor_id)
    if user is None:
        raise Unauthenticated("names no account")
    if not await asyncio.to_thread(verify_password, password, user["password_hash"]):
        raise Unauthenticated("is not this account's password", what="user.password")
    erased = UserErased(**envelope(actor_id), handles=tuple(user.get("handles", [])))
    outcome = await settle(ports.writer, [erased], nothing)
    await ports.keys.destroy(actor_id)
    return outcome


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
        user, found = event.actor_id, self.footprint
        comments = await found.comments_by(user)
        return [
            *(_derived(event, "article", a, ArticleErased, article_id=a) for a in await found.articles_by(user)),
            *(
                _derived(event, "comment", f"{a}:{c}", CommentErased, article_id=a, comment_id=c)
                for a, c in comments
            ),
            *(_derived(event, "bump", a, ArticleUnbumped, article_id=a) for a in await found.bumped_by(user)),
            *(_derived(event, "follow", f, UserUnfollowed, followee_id=f) for f in await found.followed_by(user)),
            *(_derived(event, "tribe", t, TribeLeft, tribe_id=t) for t in await found.tribes_of(user)),
            *(_report_erased(event, key) for key in await found.reported_by(user)),
            *(
                [_derived(event, "handles", "kept", UserErased, handles=kept)]
                if (kept := await found.handles_kept(user))
                else []
            ),
        ]


def _report_erased(erasure: UserErased, key: str) -> Event:
    kind, target_id, article_id = target_of(key)
    if article_id is None:
        return _derived(erasure, "report", key, UserReportErased, target_id=target_id)
    return _derived(erasure, "report", key, ContentReportErased, target_kind=kind, target_id=target_id,
                    article_id=article_id)
