"""Engagement as documents of their own: one per (target, actor), so no document holds every actor.

A bump of an article, a membership of a tribe, an actor of a notification group: each is a
small document per (target, actor), fed by the target's partition, saying whether the actor is
engaged now. The target keeps only a count and its few latest actors, so the n-th bump of an
article writes the same few bytes as the first.

The count moves by the actor's transition, from the actor's document: +1 when the actor goes
from not engaged to engaged, -1 back, 0 for a repeat. That would make the target's count
depend on another document's state, which a store whose bulk writes are not atomic
(Elasticsearch) may have kept while losing the target's: redelivered, the event would find
the actor's document already reflecting it and count nothing. So the actor's document keeps,
for each of its `RECENT` latest events, the event's mark (time and id) and the state just
before it. A redelivered event that the document already reflects finds its mark there and
still tells the target its transition; an event it does not find is newer than the document,
whose state is then the state just before the event. The actor's document itself follows
from its own state and the event alone.

Why a count can neither double count nor miss, under redelivery and any partial write of a
batch: the fold applies an event to the target only while the target has not applied it (its
version is older); the delta it applies is the actor's transition at that very event, read
from the actor's document whether that document is older than the event or already past it;
a batch cut by a partial write is redelivered whole, from the checkpoint before it. This
holds as long as the actor's document still holds the marks of every event of that actor on
that target in the batch: at most `RECENT` of them. (A user's bumps and unbumps of one article
past the 16th within one batch, in a batch whose write was cut with the user's document kept
and the article's lost, can leave that article's count off by one; `tribe replay` rebuilds it.)
A mark is an event's time and id: a client retrying an event id is appended at another time,
so two log entries share a mark only if one request to a log that does not deduplicate ids
(Kafka) carried the same event id twice; the second would then count as the first again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from events.catalogue import Event

RECENT = 16
"""How many of its latest events an actor's document remembers (see the module's docstring)."""


class Engaged(TypedDict):
    """What every actor's document (a bump, a membership, a notification's actor) has."""

    active: bool
    recent: list[str]


def mark(event: Event) -> str:
    """The event as an actor's document remembers it: its time and id."""
    return f"{event.occurred_at}:{event.event_id}"


@dataclass(frozen=True, slots=True)
class Step:
    """An actor's transition at one event."""

    before: bool
    after: bool
    recent: list[str] | None
    """The actor's document's new `recent` entries; None when the document needs no write (it reflects the event)."""

    @property
    def delta(self) -> int:
        """What the event adds to the target's count."""
        return int(self.after) - int(self.before)


def step(doc: Engaged | None, event: Event, after: bool, *, once: bool = False) -> Step:
    """The actor's transition at `event`, which leaves them engaged (`after`) or not.

    `doc` is the actor's document as held, if any. Each entry of its `recent` is "1" or "0"
    (engaged just before the event) followed by the event's mark, oldest first. `once`: the
    actor's state only ever goes from not engaged to engaged (a commenter), so only the event
    that engaged them needs remembering, and nothing is written for later ones.
    """
    recent = doc["recent"] if doc else []
    active = bool(doc and doc["active"])
    marked = mark(event)
    for entry in recent:
        if entry[1:] == marked:
            return Step(entry[0] == "1", after, None)
    if once and active:
        return Step(True, True, None)
    return Step(active, after, [*recent, f"{int(active)}{marked}"][-RECENT:])


def latest(actors: Sequence[str], actor: str, moved: Step, keep: int) -> list[str]:
    """The target's latest engaged actors, newest first, after the actor's step: at most `keep`."""
    if moved.delta > 0:
        return [actor, *(a for a in actors if a != actor)][:keep]
    if moved.delta < 0:
        return [a for a in actors if a != actor]
    return list(actors)


def counted(count: int, moved: Step) -> int:
    """The target's count after the actor's step.

    Never below zero: an actor engaged before the target existed (no event the API appends)
    was never counted, and their leaving subtracts nothing that was added.
    """
    return max(0, count + moved.delta)
