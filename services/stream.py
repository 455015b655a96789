"""Live updates: one hub per process tails the log and fans out to every open stream of that process.

**Which events.** The articles, follows and tribes topics: a subscriber's feed and notifications
come from the first (publications, bumps, comments, mentions) and the second (follows), and their
own follows, joins and blocks (second and third) change what concerns them. services/live.py
decides, per event and subscriber, with a pure fold.

**Ids.** Each message's id is the stream's cursor after it: the next offset to read of every
partition of those topics (`Cursor`), so a client that reconnects with it (`Last-Event-ID`, or
`?last_event_id=` on a new EventSource) resumes right after the last message it got: the events
after it are read again from the log and decided again, none skipped and none sent twice, whatever
order the partitions' events were interleaved in, and on any API process of the same log.

**One tailer per process.** `Hub` reads the log with one follower (Log.follow: woken by every
append on the embedded log, one consumer assigned to every partition on Kafka), decodes each
entry once, resolves the authors of bumped and commented articles once, and puts each batch on
every open stream's queue. A stream that resumes from an older cursor reads the gap between it and
the hub from the log first (Log.read_many), then takes the hub's batches, dropping what it has
already seen: a per-partition cursor makes the seam exact. The hub runs while streams are open.
A stream too slow to take its batches (its queue full) is ended; its client resumes from its id.

**Tickets.** A browser's EventSource cannot send an Authorization header, so a stream is opened
with a ticket from `POST /v1/stream/tickets`: a JWT signed with a key derived from the access
tokens' secret (so any API process sharing TRIBE_JWT_SECRET accepts it, and neither kind of token
passes for the other), naming the user and their token generation, valid for opening streams for
TRIBE_STREAM_TICKET_TTL seconds (EventSource's own reconnections reuse its URL); a logout or new
password since it was issued refuses it. An open stream is not cut when its ticket expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

import jwt
import structlog

from events.catalogue import ArticleBumped, ArticlePublished, CommentPosted, Event
from events.codec import EventCodec
from events.log import Entry, Log, Position
from events.routing import ARTICLES, FOLLOWS, TRIBES, partitions
from projections.queries import ReadModels, SocialReads
from services.errors import BadQuery, TooMany, Unauthenticated
from services.live import DECIDED, Audience, Message, step
from services.ports import Ports
from services.privacy import follow_opens, is_private

log = structlog.get_logger("stream")

STREAM_TOPICS: tuple[tuple[str, str], ...] = (("a", ARTICLES), ("f", FOLLOWS), ("t", TRIBES))
"""The topics a stream reads, each with the letter that names it in a cursor, in the cursor's order."""
_OFFSET = "(0|[1-9a-z][0-9a-z]{0,12})"
CURSOR_PATTERN = "^" + "_".join(f"{letter}{_OFFSET}(\\.{_OFFSET})*" for letter, _ in STREAM_TOPICS) + "$"
"""A message id: per topic its letter and its partitions' next offsets in base 36, dot-separated, one per
partition of the topic (TRIBE_PARTITIONS); topics joined by `_` (`a0.0.1f.0.0.0.0.0_f0.3.0.0_t0.0.0.0` with
the default counts). The OpenAPI document states this pattern."""
_CURSOR = re.compile(CURSOR_PATTERN)
READ_BATCH = 500
"""Entries per partition per read of a resumed stream's gap."""
QUEUE_BATCHES = 1000
"""Batches a stream may hold unsent before it is ended (its client resumes from its last id)."""


def partitions_read() -> list[tuple[str, int]]:
    """Every (topic, partition) a stream reads, in the cursor's order, by the process topology."""
    return [(topic, p) for _, topic in STREAM_TOPICS for p in range(partitions(topic))]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        n, d = divmod(n, 36)
        text = digits[d] + text
        if n == 0:
            return text


@dataclass(slots=True)
class Cursor:
    """The next offset to read of every partition a stream reads: a position in the log as a whole."""

    offsets: dict[tuple[str, int], int]

    def token(self) -> str:
        return "_".join(
            letter + ".".join(_base36(self.offsets[(topic, p)]) for p in range(partitions(topic)))
            for letter, topic in STREAM_TOPICS
        )

    @classmethod
    def parse(cls, token: str) -> Cursor:
        sections = token.split("_")
        if _CURSOR.fullmatch(token) is None or any(
            section.count(".") != partitions(topic) - 1 for (_, topic), section in zip(STREAM_TOPICS, sections)
        ):
            raise BadQuery("last_event_id", "is not an id this stream gave out")
        offsets: dict[tuple[str, int], int] = {}
        for (_, topic), section in zip(STREAM_TOPICS, sections):
            for p, text in enumerate(section[1:].split(".")):
                offsets[(topic, p)] = int(text, 36)
        return cls(offsets)

    def takes(self, position: Position) -> bool:
        """Whether the entry at `position` is the stream's next of its partition (or later): not yet delivered."""
        return position.offset >= self.offsets.get((position.topic, position.partition), 0)

    def passed(self, position: Position) -> None:
        self.offsets[(position.topic, position.partition)] = position.offset + 1


# -- tickets -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ticket:
    ticket: str
    expires_at: int
    """ms since the epoch"""


@dataclass(frozen=True, slots=True)
class TicketClaims:
    user_id: str
    generation: int


_TICKET_AUDIENCE = "tribestream-stream"


class Tickets:
    """Signed, short-lived tickets that open streams (the module's docstring says why and how)."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._key = hmac.new(secret.encode(), b"tribestream stream tickets", hashlib.sha256).hexdigest()
        self._ttl = ttl_seconds

    def issue(self, user_id: str, generation: int) -> Ticket:
        now = int(time.time())
        claims = {"sub": user_id, "gen": generation, "aud": _TICKET_AUDIENCE, "iat": now, "exp": now + self._ttl}
        return Ticket(jwt.encode(claims, self._key, algorithm="HS256"), (now + self._ttl) * 1000)

    def claims(self, ticket: str) -> TicketClaims:
        """Unauthenticated unless the ticket is one of ours and unexpired."""
        try:
            decoded = jwt.decode(
                ticket,
                self._key,
                algorithms=["HS256"],
                audience=_TICKET_AUDIENCE,
                options={"require": ["sub", "gen", "aud", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"is invalid ({exc}); ask POST /v1/stream/tickets for one", "ticket") from None
        if not isinstance(decoded["gen"], int):
            raise Unauthenticated("is invalid (the generation claim is not an integer)", "ticket")
        return TicketClaims(str(decoded["sub"]), decoded["gen"])


# -- the hub ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """Decoded entries of the log, in each partition's order, with the authors of the articles they bump or comment."""

    events: tuple[tuple[Position, Event], ...]
    authors: dict[str, str]
    private: frozenset[str] = frozenset()
    """The authors of its articles (published, or commented) who are private (services/live.py)."""


END = None
"""Put on a stream's queue when the hub stops: the stream ends, its client resumes from its last id."""


class Authors:
    """Article id to author id: learned from publications the stream reads, else read from the articles view.

    Reads the articles view (every card, deleted or not) for articles published before the hub
    started. A bump or comment is appended only once the API found its article in that view
    (services/articles.py, services/activity.py), so the view has its author when the hub reads it.
    Authors never change, so what is learned is kept (the newest `size`).
    """

    def __init__(self, social: SocialReads, size: int = 100_000) -> None:
        self._social = social
        self._size = size
        self._known: OrderedDict[str, str] = OrderedDict()

    def _remember(self, article_id: str, author_id: str) -> None:
        self._known[article_id] = author_id
        self._known.move_to_end(article_id)
        if len(self._known) > self._size:
            self._known.popitem(last=False)

    async def of(self, events: Iterable[Event]) -> dict[str, str]:
        wanted: set[str] = set()
        for event in events:
            if isinstance(event, ArticlePublished):
                self._remember(event.article_id, event.actor_id)
            elif isinstance(event, ArticleBumped | CommentPosted):
                wanted.add(event.article_id)
        missing = sorted(a for a in wanted if a not in self._known)
        if missing:
            for article_id, author_id in (await self._social.article_authors(missing)).items():
                self._remember(article_id, author_id)
        return {a: self._known[a] for a in wanted if a in self._known}


@dataclass(eq=False, slots=True)
class Subscription:
    start: dict[tuple[str, int], int]
    """The hub's next offsets when it was taken: every later entry comes on `queue`."""
    queue: asyncio.Queue[Batch | None] = field(default_factory=asyncio.Queue)


class Hub:
    """One follower of the log per process, fanned out to every open stream (the module's docstring)."""

    def __init__(self, log: Log, codec: EventCodec, authors: Authors, reads: ReadModels) -> None:
        self._log = log
        self._reads = reads
        self._codec = codec
        self.authors = authors
        self._subscriptions: set[Subscription] = set()
        self._next: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def subscribe(self) -> Subscription:
        """A queue of every batch from now on, and where now is; starts the follower if it is not running."""
        async with self._starting:
            if self._task is None or self._task.done():
                self._next = await self._log.end_offsets(partitions_read())
                self._task = asyncio.create_task(self._follow(dict(self._next)), name="stream-hub")
            subscription = Subscription(dict(self._next))
            self._subscriptions.add(subscription)
            return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Forget the stream; the last one out stops the follower."""
        self._subscriptions.discard(subscription)
        if not self._subscriptions:
            await self._stop()

    async def close(self) -> None:
        """End every stream (their clients resume elsewhere, or here once the server is back) and stop."""
        for subscription in self._subscriptions:
            _put(subscription, END)
        self._subscriptions.clear()
        await self._stop()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def decode(self, entries: Sequence[Entry]) -> Batch:
        """Entries as events, with the authors their bumps and comments need. Only the types services/live.py
        decides are decoded (the others concern nobody's stream); an entry that does not decode is skipped (the
        views park it as a dead letter)."""
        events: list[tuple[Position, Event]] = []
        codec = self._codec
        await codec.prepare_to_decode(entry.value for entry in entries)
        for entry in entries:
            try:
                if codec.writer_schema(entry.value).type_name in DECIDED:
                    events.append((entry.position, codec.decode(entry.value)))
            except Exception as exc:  # a poison entry concerns nobody's stream
                log.warning("stream_undecodable", position=entry.position.token(), error=str(exc))
        authors = await self.authors.of(e for _, e in events)
        return Batch(tuple(events), authors, await self._private(events, authors))

    async def _private(self, events: Sequence[tuple[Position, Event]], authors: dict[str, str]) -> frozenset[str]:
        """Which authors of the batch's publications and commented articles are private now.

        Reads the users view, once per batch: an author who went private a moment ago is read as
        public until the view has it (the PUT that did it answers once it has); an author the view
        does not hold is read as private, so nothing of theirs goes out before the view knows them.
        """
        wanted = {e.actor_id for _, e in events if isinstance(e, ArticlePublished)}
        wanted.update(
            authors[e.article_id] for _, e in events if isinstance(e, CommentPosted) and e.article_id in authors
        )
        if not wanted:
            return frozenset()
        users = await self._reads.users(sorted(wanted))
        return frozenset(a for a in wanted if a not in users or is_private(users[a]))

    async def _follow(self, starts: dict[tuple[str, int], int]) -> None:
        try:
            async for entries in self._log.follow(starts):
                batch = await self.decode(entries)
                for entry in entries:  # from here to the fan-out, nothing awaits: a new stream's start is exact
                    tp = (entry.position.topic, entry.position.partition)
                    self._next[tp] = max(self._next.get(tp, 0), entry.position.offset + 1)
                for subscription in list(self._subscriptions):
                    if not _put(subscription, batch):
                        self._subscriptions.discard(subscription)
        except Exception as exc:
            log.warning("stream_hub_failed", error=f"{type(exc).__name__}: {exc}")
            for subscription in self._subscriptions:
                _put(subscription, END)
            self._subscriptions.clear()


def _put(subscription: Subscription, batch: Batch | None) -> bool:
    """Hand the batch over; a stream holding QUEUE_BATCHES unsent is ended instead, after what it holds (False)."""
    if subscription.queue.qsize() >= QUEUE_BATCHES:
        subscription.queue.put_nowait(END)
        return False
    subscription.queue.put_nowait(batch)
    return True


# -- the use cases ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Streams:
    """This process's hub, tickets and open streams per user, with the bound on them."""

    hub: Hub
    tickets: Tickets
    per_user: int
    open: dict[str, int] = field(default_factory=dict)


async def ticket(ports: Ports, streams: Streams, user_id: str) -> Ticket:
    """A ticket opening the user's streams for a while (the user is authenticated: their generation is current)."""
    generation = await ports.generations.get(user_id)
    return streams.tickets.issue(user_id, generation or 0)


class Stream:
    """One open stream: its messages, each with its id, from its cursor on, until the hub ends it."""

    def __init__(self, ports: Ports, streams: Streams, user_id: str) -> None:
        self._ports = ports
        self._streams = streams
        self.audience = Audience(user_id)
        self._subscription: Subscription | None = None

    async def start(self, resume: Cursor | None, heads: dict[tuple[str, int], int] | None = None) -> Cursor:
        """Subscribe to the hub, then seed the audience; the cursor the stream goes on from.

        `heads`: the log's end offsets that open_stream checked `resume` against. Without a resume they are
        read here, after subscribing, so that none is behind the hub's start.
        """
        self._subscription = subscription = await self._streams.hub.subscribe()
        cursor = resume or Cursor(dict(subscription.start))
        if heads is None:
            heads = await self._ports.writer.log.end_offsets(partitions_read())
        await self._seed(cursor, heads)
        return cursor

    async def messages(self, cursor: Cursor) -> AsyncIterator[tuple[str, Message]]:
        """The gap up to the hub from the log, then the hub's batches; ends when the hub ends the stream."""
        assert self._subscription is not None, "open_stream starts every stream"
        subscription = self._subscription
        async for read in self._gap(cursor, subscription.start):
            for sent in self._decide(read, cursor):
                yield sent
        while (batch := await subscription.queue.get()) is not None:
            for sent in self._decide(batch, cursor):
                yield sent

    async def _seed(self, cursor: Cursor, heads: dict[tuple[str, int], int]) -> None:
        """The audience from the read models, once they reflect the log up to the cursor (waited for at most the
        write wait: behind that, a follow, join or block made just before the cursor may be missed until the
        views have it, as the /v1/feed of that moment would miss it)."""
        reached = [Position(t, p, o - 1) for (t, p), o in cursor.offsets.items() if o > 0]
        written = [p for p in reached if p.offset < heads[(p.topic, p.partition)]]
        await self._ports.writer.progress.wait(written, self._ports.writer.wait_seconds)
        self.audience = await audience_of(self._ports, self.audience.user_id)

    async def _gap(self, cursor: Cursor, until: dict[tuple[str, int], int]) -> AsyncIterator[Batch]:
        """The entries from the cursor up to where the hub was when this stream subscribed, read from the log."""
        log_ = self._ports.writer.log
        starts = {tp: o for tp, o in cursor.offsets.items() if o < until.get(tp, 0)}
        while starts:
            found = await log_.read_many(starts, READ_BATCH)
            entries = [e for tp, got in found.items() for e in got if e.position.offset < until[tp]]
            if not entries:
                return
            yield await self._streams.hub.decode(entries)
            for entry in entries:
                tp = (entry.position.topic, entry.position.partition)
                starts[tp] = entry.position.offset + 1
            starts = {tp: o for tp, o in starts.items() if o < until[tp]}

    def _decide(self, batch: Batch, cursor: Cursor) -> Iterable[tuple[str, Message]]:
        for position, event in batch.events:
            if not cursor.takes(position):
                continue
            cursor.passed(position)
            self.audience, message = step(event, self.audience, batch.authors, batch.private)
            if message is not None:
                yield cursor.token(), message

    async def close(self) -> None:
        streams = self._streams
        user_id = self.audience.user_id
        streams.open[user_id] -= 1
        if not streams.open[user_id]:
            del streams.open[user_id]
        if self._subscription is not None:
            await streams.hub.unsubscribe(self._subscription)


async def open_stream(
    ports: Ports, streams: Streams, ticket: str, last_event_id: str | None
) -> tuple[Stream, Cursor]:
    """A stream of the ticket's user, subscribed and seeded, and the cursor it goes on from: `last_event_id` (a
    message id this API gave out) or now. Close it when done.

    Unauthenticated for a ticket that is not valid or whose user logged out since; TooMany when the user
    already has `per_user` streams open on this process; BadQuery for an id of another form, or past the log's
    end in any partition (one of a log since reset: the stream would wait, silent, for the log to pass it).
    The store or the log not answering (while subscribing or seeding) is their Unavailable, with nothing left
    open.
    """
    claims = streams.tickets.claims(ticket)
    generation = await ports.generations.get(claims.user_id)
    if generation is None:
        raise Unauthenticated("names a user that does not exist", "ticket")
    if claims.generation < generation:
        raise Unauthenticated("was revoked by a logout or a password change; log in again", "ticket")
    resume = Cursor.parse(last_event_id) if last_event_id else None
    heads = None
    if resume is not None:
        heads = await ports.writer.log.end_offsets(partitions_read())
        if any(offset > heads[tp] for tp, offset in resume.offsets.items()):
            raise BadQuery("last_event_id", "is past the end of the log: not an id this stream gave out")
    if streams.open.get(claims.user_id, 0) >= streams.per_user:
        raise TooMany("streams", f"at most {streams.per_user} open at once per user; close one first")
    streams.open[claims.user_id] = streams.open.get(claims.user_id, 0) + 1
    opened = Stream(ports, streams, claims.user_id)
    try:
        return opened, await opened.start(resume, heads)
    except BaseException:
        await opened.close()
        raise


async def audience_of(ports: Ports, user_id: str) -> Audience:
    """The subscriber as the read models have them: the follows, tribes (memberships), blocks and users views.

    A followee is opened unless they are private and the subscriber's follow does not open them
    (services/privacy.py): a public followee's follow began before any time they go private.
    """
    social = ports.social
    followees = await ports.reads.followees(user_id)
    followed = await ports.reads.users(followees)
    closed = [f for f in followees if f in followed and is_private(followed[f])]
    follows = await ports.reads.follow_docs(user_id, closed)
    opened = {f for f in followed if f not in closed} | {f for f in closed if follow_opens(follows.get(f), followed[f])}
    return Audience(
        user_id,
        followees=frozenset(followees),
        opened=frozenset(opened),
        tribes=frozenset(await social.member_of(user_id)),
        blocked=frozenset(await social.blocked_by(user_id)),
        blockers=frozenset(await social.blockers_of(user_id)),
    )
