"""The feeds, read from the reader's timeline and the few outliers they pull (services/fanout.py).

A feed read costs the same however many people the reader follows, and however many block them:
one range of the reader's timeline, one read of the outliers (authors and tribes whose audience
outgrew the fan-out), one batched get of the reader's follows or memberships among them, a range
of the newest articles of each outlier they follow (few: their audiences passed the threshold)
and of each author they followed in the last minutes (whose backfill may not be filed yet; at
most reducers/follows.py `RECENT`), and the page's cards. Nothing is sized by the reader's followees
or blockers: a block is looked up for the authors of what was read, both ways, by id. The
Conduit feed reads the cards, their authors, the reader's follows and bumps of them and the
blocks in one batched get of five views (TimelineReads.window): one request on Elasticsearch.
Its first read also gets the reader's follows of the outliers and their recent follows in that
get (TimelineReads.window_and_pulled_authors), and the window of what they pull, when that was
not delivered, in a second; a wider read, when the first left too much out, knows whom they
pull and reads one window of both. A reader who pulls nobody reads a range and one get a time.

What is filed in a timeline is checked against the reader's own documents when it is read:
an entry whose author the reader no longer follows (or whose tribe they left), an article
deleted since, an author hidden by a block either way, a private author whose follow the reader
has not had approved (services/privacy.py), an article hidden by moderation or by a suspended
author (projections/queries.py `visible`), is left out, before the page is cut. These checks
consult the follows, memberships, blocks, users, articles and moderation views, which may lag
the log by a moment; a reader who sends `X-Tribe-After` with their last write's positions reads
after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from events.log import Position
from projections.store import MAX_WINDOW
from projections.timeline_queries import FeedWindow, PulledAuthors
from services.articles import paging
from services.fanout import BACKFILL, RECENT_FOLLOW_MS
from services.ports import Ports
from services.privacy import open_authors, readable
from services.views import ArticlePage, CardView, article_views, card_views
from services.writer import now_ms

Body = dict[str, Any]
Cursor = tuple[Any, ...]

FEED_READS = 4
"""How many times the Conduit feed reads a window twice the last, when what it left out leaves the page short."""
RANKED_WINDOW = 200
"""The newest deliveries and pulled articles the ranked feed ranks: a ranked feed ranks what is recent."""


async def feed(ports: Ports, reader: str, limit: int, offset: int, after: Sequence[Position] = ()) -> ArticlePage:
    """Conduit's feed: articles of the authors the reader follows, newest first, without those hidden by a block.

    Reads the newest offset + limit + 1 entries and pulled articles; when some of them are left
    out (an author unfollowed, blocked, or private and not opened to the reader), it reads twice
    as many, up to FEED_READS times (and the deepest window a store serves), so the page is not
    cut short by them. `articlesCount` is
    exact when the feed ends within what was read; when there is more, it is at least one more
    than the page reaches, so a client offers the next page. A count of everything a reader was
    ever delivered would grow with what they follow.
    """
    paging(limit, offset)
    await ports.writer.caught_up(after)
    want = offset + limit
    since = now_ms() - RECENT_FOLLOW_MS
    timelines = ports.timelines
    pulling: PulledAuthors | None = None
    size = want + 1
    for attempt in range(FEED_READS):
        entries = await timelines.timeline(reader, size, by_author=True)
        delivered = _authors_by_article(entries)
        window, read = FeedWindow([], {}, {}, set()), {}
        if pulling is None:
            # The first read learns whom the reader pulls with the window of what was delivered.
            window, pulling = await timelines.window_and_pulled_authors(reader, delivered, since)
            read = delivered
        pulled = await timelines.pulled(pulling, (), size, BACKFILL)
        unread = {a: author for a, author in {**delivered, **_authors_by_article(pulled)}.items() if a not in read}
        if unread:
            window = window.merged(await timelines.window(reader, unread))
        opened = await open_authors(ports, reader, window.authors, window.follows)
        live = [card for card in window.cards if card["author_id"] in opened]
        more = len(entries) == size or len(pulled) == size
        if len(live) > want or not more or attempt == FEED_READS - 1 or size >= MAX_WINDOW:
            break
        size = min(size * 2, MAX_WINDOW)
    docs = live[offset:want]
    total = max(len(live), want + 1) if more else len(live)
    views = await article_views(
        ports, docs, reader, followed=window.followed, authors=window.authors, bumped=window.bumped
    )
    return ArticlePage(views, total)


def _authors_by_article(items: Sequence[Body]) -> dict[str, str]:
    """Article id -> author id of these timeline entries or articles."""
    return {item["article_id"]: item["author_id"] for item in items}


async def ranked_feed(
    ports: Ports, reader: str, size: int, cursor: Cursor | None, after: Sequence[Position] = ()
) -> tuple[list[CardView], Cursor | None]:
    """/v1's feed: the reader's newest deliveries and pulled articles (authors and tribes), best rank first.

    Ranks the RANKED_WINDOW newest of each source; a cursor is the (rank, article id) of the
    last card of the page before.
    """
    await ports.writer.caught_up(after)
    timelines = ports.timelines
    entries = await timelines.timeline(reader, RANKED_WINDOW, by_author=False)
    outlier_tribes = await timelines.outliers("tribe")
    joined_outliers = await ports.social.joined(reader, outlier_tribes)
    pulled_authors = await timelines.pulled_authors(reader, now_ms() - RECENT_FOLLOW_MS)
    pulled = await timelines.pulled(pulled_authors, sorted(joined_outliers), RANKED_WINDOW, BACKFILL)
    hidden = await ports.social.hidden_among(reader, sorted({e["author_id"] for e in [*entries, *pulled]}))
    followed = await ports.reads.following(reader, sorted({e["author_id"] for e in entries} - hidden))
    joined = await ports.social.joined(reader, sorted({e["tribe_id"] for e in entries if e["by_tribe"]}))
    ids = {
        e["article_id"]
        for e in entries
        if (e["by_author"] and e["author_id"] in followed) or (e["by_tribe"] and e["tribe_id"] in joined)
    }
    ids.update(a["article_id"] for a in pulled)
    cards = await readable(
        ports, reader, [c for c in await ports.social.cards(sorted(ids), reader) if c["author_id"] not in hidden]
    )
    ranked = sorted(cards, key=lambda c: (-c["rank"], c["article_id"]))
    if cursor is not None:
        rank, article_id = cursor
        ranked = [c for c in ranked if (-c["rank"], c["article_id"]) > (-rank, article_id)]
    page = ranked[:size]
    next_cursor = (page[-1]["rank"], page[-1]["article_id"]) if len(ranked) > size else None
    return await card_views(ports, page, reader), next_cursor
