"""The event catalogue: one frozen dataclass per event type.

Every event shares the envelope fields (`event_id`, `actor_id`, `occurred_at`);
`type` is the class name and the schema version comes from the schema file, so
neither is stored twice. Times are milliseconds since the epoch, taken from the
server clock when the API accepted the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    event_id: str
    actor_id: str
    occurred_at: int

    @property
    def type(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(Event):
    username: str
    email: str
    password_hash: str
    username_handle: str = ""  # the keyed digests of the handles it claims: the codec fills them (events/sealing.py)
    email_handle: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUpdated(Event):
    username: str | None = None
    email: str | None = None
    bio: str | None = None
    image: str | None = None
    password_hash: str | None = None
    display_name: str | None = None
    rehashed: bool = False  # password_hash is the same password under newer hashing parameters: sessions stay valid
    username_handle: str = ""  # the keyed digests of the handles it claims, when it changes them: the codec fills them
    email_handle: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserErased(Event):
    """The actor deleted their account: every view forgets them, and their data key is destroyed.

    `handles` are the handle documents (keyed digests) the user held, which become free again.
    """

    handles: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLoggedOut(Event):
    """The actor ended every session: tokens issued before it are refused."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfilePrivacySet(Event):
    """The actor made their profile private (their articles reach only approved followers) or public again."""

    private: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UserFollowed(Event):
    followee_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUnfollowed(Event):
    followee_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowApproved(Event):
    """The actor (a private user) approved follower_id's follow request: their follow now gives access."""

    follower_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowDenied(Event):
    """The actor denied follower_id's follow request, or removed them as a follower: that follow ends."""

    follower_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticlePublished(Event):
    article_id: str
    slug: str
    title: str
    description: str
    body: str
    tags: tuple[str, ...] = field(default=())
    tribe_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleEdited(Event):
    article_id: str
    slug: str | None = None
    title: str | None = None
    description: str | None = None
    body: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleDeleted(Event):
    article_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleErased(Event):
    """An erased user's article: its card forgets all they wrote. Appended by the erasure (services/erasure.py)."""

    article_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleBumped(Event):
    article_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleUnbumped(Event):
    article_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleViewed(Event):
    article_id: str
    referrer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentPosted(Event):
    article_id: str
    comment_id: int
    body: str
    mentions: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentDeleted(Event):
    article_id: str
    comment_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentErased(Event):
    """An erased user's comment: it is gone and forgets its text. Appended by the erasure (services/erasure.py)."""

    article_id: str
    comment_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TribeCreated(Event):
    tribe_id: str
    name: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TribeJoined(Event):
    tribe_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TribeLeft(Event):
    tribe_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserBlocked(Event):
    blocked_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUnblocked(Event):
    blocked_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationsRead(Event):
    up_to: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleDelivered(Event):
    """The fan-out delivered an article to these readers' timelines (services/fanout.py).

    Appended by the worker, not by a user: its actor is FANOUT_ACTOR. `reason` says why the readers
    get it: "author" (they follow its author) or "tribe" (they are members of its tribe).
    `published_at` is the article's own time, by which timelines are ordered.
    """

    article_id: str
    author_id: str
    tribe_id: str | None = None
    published_at: int
    reason: str
    readers: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class AudienceOutgrown(Event):
    """An author's followers or a tribe's members outgrew the fan-out: its articles are read by pull from now on.

    `kind` is "author" or "tribe"; `source_id` the user or tribe id. Appended by the fan-out (FANOUT_ACTOR).
    """

    kind: str
    source_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentReported(Event):
    """The actor reported an article (`target_kind` "article", `target_id` its id) or a comment ("comment", its id).

    `article_id` is the article the target is or belongs to: it routes the report to the article's
    partition. `reason` is one of services/moderation.py REASONS; `note` the reporter's own words.
    """

    target_kind: str
    target_id: str
    article_id: str
    reason: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserReported(Event):
    """The actor reported a user (`target_id`): routed by that user's id, so a user's reports share a partition."""

    target_id: str
    reason: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentReportErased(Event):
    """An erased user's report of an article or a comment forgets its note (appended by services/erasure.py)."""

    target_kind: str
    target_id: str
    article_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserReportErased(Event):
    """An erased user's report of a user forgets its note. Appended by the erasure (services/erasure.py)."""

    target_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModerationDecided(Event):
    """A moderator (`source` "moderator") or the classifier ("classifier") hid or restored an article or a comment.

    `action` is "hide" or "restore"; `judged_event_id` names the event the classifier judged (its
    decision's id derives from it), None for a moderator's decision.
    """

    target_kind: str
    target_id: str
    article_id: str
    action: str
    reason: str
    source: str
    judged_event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserModerated(Event):
    """A moderator suspended (`action` "suspend") or unsuspended ("unsuspend") a user (`target_id`)."""

    target_id: str
    action: str
    reason: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeratorGranted(Event):
    """The operator (`tribe moderators grant`) made a user a moderator; its actor is OPERATOR_ACTOR."""

    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeratorRevoked(Event):
    """The operator (`tribe moderators revoke`) took a user's moderator role back."""

    user_id: str


FANOUT_ACTOR = "tribe:fanout"
"""The actor of the events the fan-out appends: no user's id can take this form (user ids are ULIDs)."""

CLASSIFIER_ACTOR = "tribe:classifier"
"""The actor of the decisions the classifier appends (services/moderation_runner.py)."""

OPERATOR_ACTOR = "tribe:operator"
"""The actor of the events the operator's CLI appends (`tribe moderators grant`/`revoke`)."""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        UserRegistered,
        UserUpdated,
        UserLoggedOut,
        ProfilePrivacySet,
        UserErased,
        UserFollowed,
        UserUnfollowed,
        FollowApproved,
        FollowDenied,
        ArticlePublished,
        ArticleEdited,
        ArticleDeleted,
        ArticleErased,
        ArticleBumped,
        ArticleUnbumped,
        ArticleViewed,
        CommentPosted,
        CommentDeleted,
        CommentErased,
        TribeCreated,
        TribeJoined,
        TribeLeft,
        UserBlocked,
        UserUnblocked,
        NotificationsRead,
        ArticleDelivered,
        AudienceOutgrown,
        ContentReported,
        ContentReportErased,
        UserReported,
        UserReportErased,
        ModerationDecided,
        UserModerated,
        ModeratorGranted,
        ModeratorRevoked,
    )
}
