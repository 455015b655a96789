"""The document of every collection, as the reducers write it: one TypedDict per collection.

projections/views.py pairs each with its collection's CollectionSpec (the mapping the stores
create, `dynamic: strict` in Elasticsearch). tests/unit/test_document_specs.py checks that the
two name the same fields and that every body a reducer writes fits its spec, so a field the
mapping lacks fails mypy where a reducer builds it and the test where it is written.

Times are milliseconds since the epoch (`date` fields), counts are `long`, ids and names
`keyword`. A field is `| None` where a reducer writes null.
"""

from __future__ import annotations

from typing import TypedDict


class User(TypedDict):
    user_id: str
    registered_by: str
    username: str
    username_folded: str  # the username case-folded, as usernames compare: searched by prefix
    email: str
    password_hash: str
    bio: str
    image: str | None
    display_name: str | None
    created_at: int
    updated_at: int
    token_generation: int  # tokens issued at an older generation are refused: bumped by logouts and new passwords
    private: bool  # following needs approval, articles reach only approved followers (services/privacy.py)
    private_since: int | None  # when it last went private (ms): follows older than this count as approved
    handles: list[str]  # the handle documents the user holds (keyed digests), freed when they are erased
    erased: bool  # the user deleted their account: every personal field is empty
    moderator: bool  # granted and revoked by the operator (`tribe moderators`); TRIBE_MODERATORS names more


class Handle(TypedDict):
    """Who holds a username or e-mail; the id is its keyed digest (events/sealing.py), the value is nowhere."""

    kind: str
    user_id: str | None  # None: free again (its holder was erased)


class Follow(TypedDict):
    """A follow; of a private user, a request while not `approved` and begun after they went private."""

    follower_id: str
    followee_id: str
    active: bool
    updated_at: int
    since: int  # when the current follow began: a repeated follow keeps it
    approved: bool  # the followee approved this follow (FollowApproved); reset when it ends
    recent: list[str]  # its latest events and the state before each (reducers/engagement.py)


class FollowerCount(TypedDict):
    """How many active follows a user has among those one partition of the follows topic orders."""

    user_id: str
    partition: int
    count: int


class RecentFollows(TypedDict):
    """The last follows one user made, newest first: followees[i] was followed at followed_at[i]."""

    user_id: str
    followees: list[str]
    followed_at: list[int]


class Block(TypedDict):
    blocker_id: str
    blocked_id: str
    active: bool
    updated_at: int


class Article(TypedDict):
    """The article card."""

    article_id: str
    author_id: str
    tribe_id: str | None
    slug: str
    title: str
    description: str
    body: str
    tags: list[str]
    created_at: int
    updated_at: int
    favorites_count: int
    latest_bumpers: list[str]  # the few latest users bumping it, newest first: "alice and 41 others"
    comments_count: int
    views: int
    rank: int
    deleted: bool
    hidden: bool  # by a moderator or the classifier (reducers/moderation.py): out of every read but its author's
    moderated_at: int | None  # the time of the decision that set `hidden` (reducers/moderation.py decision_applies)


class Bump(TypedDict):
    """One user's bump of one article (reducers/engagement.py): `recent` are the marks of their latest events on it."""

    article_id: str
    user_id: str
    active: bool
    updated_at: int  # when it last became active (or inactive)
    recent: list[str]


class ViewReceipt(TypedDict):
    """A counted view's event id, and the time of the event that counted it (a retry of the id comes at another)."""

    article_id: str
    event_id: str
    occurred_at: int


class Comment(TypedDict):
    comment_id: int
    article_id: str
    author_id: str
    body: str
    created_at: int
    updated_at: int
    deleted: bool
    posted_as: str  # the mark (reducers/engagement.py) of the event that posted it
    deleted_as: str | None  # and of the one that deleted it
    hidden: bool  # by a moderator or the classifier: out of the comment lists
    moderated_at: int | None


class Tribe(TypedDict):
    tribe_id: str
    name: str
    name_key: str
    description: str
    owner_id: str
    created_by: str
    created_at: int
    member_count: int


class Membership(TypedDict):
    """One user's membership of one tribe (reducers/engagement.py)."""

    user_id: str
    tribe_id: str
    active: bool
    updated_at: int
    recent: list[str]


class Notification(TypedDict):
    """A group: "alice and 41 others bumped <article>"; a mention names its comment."""

    recipient_id: str
    kind: str
    article_id: str | None
    comment_id: int | None
    count: int
    latest_actor_id: str
    latest_actors: list[str]  # the few latest actors, newest first
    latest_at: int
    active: bool


class NotificationActor(TypedDict):
    """One actor of one group (reducers/engagement.py)."""

    group_id: str
    actor_id: str
    active: bool
    recent: list[str]


class NotificationArticle(TypedDict):
    """The notifications view's own index of article authors: who is notified of an article's bumps and comments."""

    article_id: str
    author_id: str


class ReadMark(TypedDict):
    user_id: str
    read_up_to: int


class TrendBucket(TypedDict):
    """Scores of one time bucket of one partition: article id to the sum of its deltas."""

    window: str
    start: int
    partition: int
    articles: dict[str, int]


class TrendArticle(TypedDict):
    article_id: str
    author_id: str
    tags: list[str]
    deleted: bool
    hidden: bool  # by moderation: its tags trend for nobody but its author
    moderated_at: int | None


class TrendBump(TypedDict):
    """The trending view's own record of one user's bump of one article (reducers/engagement.py)."""

    article_id: str
    user_id: str
    active: bool
    recent: list[str]


class TimelineEntry(TypedDict):
    """An article in one reader's timeline, and why: its author is followed, its tribe joined, or both."""

    reader_id: str
    article_id: str
    author_id: str
    tribe_id: str | None
    created_at: int  # the article's publication time: timelines are read newest first
    by_author: bool
    by_tribe: bool


class Outlier(TypedDict):
    """An author or tribe whose audience outgrew the fan-out: readers pull its articles."""

    kind: str
    source_id: str
    since: int


class QueueItem(TypedDict):
    """One reported (or decided) target in the moderation queue: its reports and the latest decision on it."""

    target_kind: str  # "article", "comment" or "user"
    target_id: str
    article_id: str | None  # the article a comment belongs to (and an article's own id)
    reports: int  # distinct reporters
    reasons: list[str]  # the reason codes reporters gave, sorted, each once
    first_reported_at: int | None
    last_reported_at: int | None
    state: str  # "open", "hidden", "restored" or "suspended"
    pending: int  # 1 while open (awaiting a decision), else 0: the queue lists these first
    decided_by: str | None  # the moderator's user id, or CLASSIFIER_ACTOR
    decided_source: str | None  # "moderator" or "classifier"
    decided_at: int | None
    decision_reason: str | None


class Report(TypedDict):
    """One user's report of one target: a second report by the same user changes nothing."""

    target_key: str
    reporter_id: str
    reason: str
    note: str
    reported_at: int
    reported_as: str  # the mark (reducers/engagement.py) of the event that filed it
