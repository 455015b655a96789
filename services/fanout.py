"""The fan-out: who receives an article in their timeline, decided once and appended to the log.

The hybrid feed (Twitter's and Instagram's answer, DriveTribe's "outliers"): an article of an
author with fewer followers than the threshold is delivered to each follower's timeline at
publication, in events of at most `batch` readers; so is an article of a tribe with fewer
members than the threshold, to its members. An author or tribe whose audience reaches the
threshold is marked once (`AudienceOutgrown`) and read by pull from then on: a feed read
merges the reader's timeline with the newest articles of the few outliers they follow. A new
follower or member is delivered the latest `BACKFILL` articles of whom they followed.

The decisions are events (reducers/timelines.py files them), so a replay gives the same
timelines. They consult read models (the follows, memberships and articles views), which the
runner (services/fanout_runner.py) first waits to see caught up with the log as it stands
when the decision is taken: a follow acknowledged before a publication is then seen by the
publication's fan-out, and an article published before a follow by the follow's backfill. If
the wait times out (a view is down), the decision is taken on what the views hold and the
runner says so in its log line; the reader's read path also pulls the authors followed in
the last `RECENT_FOLLOW_MS` (services/articles.py), which covers a late backfill.

Every event this module builds has an id derived from the event it reacts to, so deciding
twice (a runner redelivered after a crash) appends what the first decision appended: the
embedded log keeps the first (ids are unique per actor), and on Kafka the timelines reducer
files a second delivery as a no-op. A backfill's id names the follower or member too: a
client's event id is unique for its sender only (POST /v1/events), and the deliveries of two
users' follows sent with one id are two decisions, all under the fan-out's actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.catalogue import (
    FANOUT_ACTOR,
    ArticleDelivered,
    ArticlePublished,
    AudienceOutgrown,
    Event,
    TribeJoined,
    UserFollowed,
)
from projections.timeline_queries import TimelineReads

RECENT_FOLLOW_MS = 5 * 60_000
"""How long a new follow is read by pull too: far longer than the fan-out takes to file its backfill."""
BACKFILL = 100
"""Articles delivered to a new follower or member: an author's latest from before the follow (the feed pulls
no more of a recent follow than this, so what it shows does not shrink once the pull ends). Ten pages of a
Conduit feed: a person paging through whom they just followed meets the end of the author's history, not of
the backfill, unless the author wrote more; and a follow costs at most this many deliveries, whoever it is."""


@dataclass(frozen=True, slots=True)
class FanOutPolicy:
    threshold: int
    """An author's followers (a tribe's members) from which their articles are pulled, not delivered."""
    batch: int = 1000
    """Readers per delivery event: bounds an event's size and the documents one event writes."""


class FanOut:
    def __init__(self, reads: TimelineReads, policy: FanOutPolicy) -> None:
        self.reads = reads
        self.policy = policy

    @staticmethod
    def reacts_to(event: Event) -> bool:
        """Whether the fan-out may append anything for this event (and so must read the views first)."""
        return isinstance(event, (ArticlePublished, UserFollowed, TribeJoined))

    async def react(self, event: Event) -> list[Event]:
        """The events the fan-out appends for one event of the log (none for most)."""
        if isinstance(event, ArticlePublished):
            return await self._published(event)
        if isinstance(event, UserFollowed):
            return await self._backfill(event, "author", event.followee_id)
        if isinstance(event, TribeJoined):
            return await self._backfill(event, "tribe", event.tribe_id)
        return []

    async def _published(self, event: ArticlePublished) -> list[Event]:
        out: list[Event] = []
        sources = [("author", event.actor_id)] + ([("tribe", event.tribe_id)] if event.tribe_id else [])
        for kind, source_id in sources:
            if await self.reads.is_outlier(kind, source_id):
                continue
            if await self.reads.audience_size(kind, source_id) >= self.policy.threshold:
                out.append(
                    AudienceOutgrown(
                        event_id=f"{event.event_id}.{kind}.outgrown",
                        actor_id=FANOUT_ACTOR,
                        occurred_at=event.occurred_at,
                        kind=kind,
                        source_id=source_id,
                    )
                )
                continue
            n = 0
            async for readers in self.reads.audience(kind, source_id, self.policy.batch):
                out.append(_delivery(event, event.article_id, event.actor_id, event.tribe_id, event.occurred_at,
                                     kind, tuple(readers), f"{event.event_id}.{kind}.{n}"))
                n += 1
        return out

    async def _backfill(self, event: UserFollowed | TribeJoined, kind: str, source_id: str) -> list[Event]:
        if await self.reads.is_outlier(kind, source_id):
            return []
        articles = await self.reads.latest_articles(kind, source_id, BACKFILL)
        return [
            _delivery(event, a["article_id"], a["author_id"], a["tribe_id"], a["created_at"], kind,
                      (event.actor_id,), f"{event.event_id}.{event.actor_id}.{a['article_id']}")
            for a in articles
        ]


def _delivery(
    cause: Event,
    article_id: str,
    author_id: str,
    tribe_id: str | None,
    published_at: int,
    reason: str,
    readers: tuple[str, ...],
    event_id: str,
) -> ArticleDelivered:
    return ArticleDelivered(
        event_id=event_id,
        actor_id=FANOUT_ACTOR,
        occurred_at=cause.occurred_at,
        article_id=article_id,
        author_id=author_id,
        tribe_id=tribe_id,
        published_at=published_at,
        reason=reason,
        readers=readers,
    )
