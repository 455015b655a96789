"""The moderation queue: one document per reported or decided target, one per (target, reporter).

A target is an article, a comment or a user (`target_key`). Its reports and the decisions on it
are routed to one partition (events/routing.py): an article's and its comments' with the
article's events, a user's with the user's. So the queue document and the reports that feed it
are versioned by one partition's positions, and a redelivered event is a no-op for the
documents that already reflect it.

A user reporting the same target twice counts once: the first report writes the reporter's
document, and only the event that wrote it (its mark, reducers/engagement.py, is the document's
`reported_as`) counts in the queue, once, while the queue document has not applied it. It
cannot miss: that event finds its own mark even when a partial write kept the report and lost
the queue document.

States: a first report opens the target ("open"); a decision sets "hidden", "restored" or
"suspended" (an unsuspended user is "restored"), whoever decided. A new reporter after a
restore opens it again; reports of a hidden or suspended target are counted and leave it as it is.
`pending` is 1 while open, so the queue lists what awaits a decision first.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import (
    ContentReported,
    ContentReportErased,
    Event,
    ModerationDecided,
    UserModerated,
    UserReported,
    UserReportErased,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import QueueItem, Report
from reducers.engagement import mark

QUEUE = "moderation_queue"
REPORTS = "moderation_reports"

DECIDED_STATES = {"hide": "hidden", "restore": "restored", "suspend": "suspended", "unsuspend": "restored"}
"""The state each action leaves its target in."""


def target_key(target_kind: str, target_id: str, article_id: str | None = None) -> str | None:
    """The queue document's id of a target; None for a target no route can name.

    An article's id is its own article id; a comment's id is its number, which the article's id
    qualifies (comment numbers are the API's, unique per article at least).
    """
    if target_kind == "user":
        return f"user:{target_id}"
    if target_kind == "article" and target_id == article_id:
        return f"article:{target_id}"
    if target_kind == "comment" and article_id is not None and target_id.isascii() and target_id.isdigit():
        return f"comment:{article_id}:{int(target_id)}"
    return None


def decision_applies(event: ModerationDecided | UserModerated, decided_at: int | None) -> bool:
    """Whether a decision changes a target last decided at `decided_at` (None: never): the latest in the log stands,
    except a classifier's decision older than that.

    A classifier's decision carries the time of the event it judged, so one appended again (a rerun
    on Kafka, whose log does not refuse a repeated id) does not undo a moderator's later restore;
    a later edit it judges is newer, and counts.
    """
    return event.source != "classifier" or decided_at is None or event.occurred_at >= decided_at


def target_of(key: str) -> tuple[str, str, str | None]:
    """The (kind, target id, article id) a queue document's id names: `target_key`'s inverse."""
    kind, _, rest = key.partition(":")
    if kind == "comment":
        article_id, _, number = rest.rpartition(":")
        return kind, number, article_id
    return kind, rest, rest if kind == "article" else None


def report_id(key: str, reporter_id: str) -> str:
    return f"{key}:{reporter_id}"


def _key_of(
    event: ContentReported | UserReported | ModerationDecided | UserModerated | ContentReportErased | UserReportErased,
) -> str | None:
    if isinstance(event, (UserReported, UserModerated, UserReportErased)):
        return target_key("user", event.target_id)
    return target_key(event.target_kind, event.target_id, event.article_id)


def _target(event: ContentReported | UserReported | ModerationDecided | UserModerated) -> tuple[str, str, str | None]:
    if isinstance(event, (UserReported, UserModerated)):
        return "user", event.target_id, None
    return event.target_kind, event.target_id, event.article_id


def _new_item(event: ContentReported | UserReported | ModerationDecided | UserModerated) -> QueueItem:
    kind, target_id, article_id = _target(event)
    return {
        "target_kind": kind,
        "target_id": target_id,
        "article_id": article_id,
        "reports": 0,
        "reasons": [],
        "first_reported_at": None,
        "last_reported_at": None,
        "state": "open",
        "pending": 1,
        "decided_by": None,
        "decided_source": None,
        "decided_at": None,
        "decision_reason": None,
    }


class ModerationReducer(Reducer):
    collections = (QUEUE, REPORTS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ContentReported)
    @keys.register(UserReported)
    def _(self, event: ContentReported | UserReported) -> tuple[DocKey, ...]:
        key = _key_of(event)
        return () if key is None else ((QUEUE, key), (REPORTS, report_id(key, event.actor_id)))

    @keys.register(ContentReportErased)
    @keys.register(UserReportErased)
    def _(self, event: ContentReportErased | UserReportErased) -> tuple[DocKey, ...]:
        key = _key_of(event)
        return () if key is None else ((REPORTS, report_id(key, event.actor_id)),)

    @keys.register(ModerationDecided)
    @keys.register(UserModerated)
    def _(self, event: ModerationDecided | UserModerated) -> tuple[DocKey, ...]:
        key = _key_of(event)
        return () if key is None else ((QUEUE, key),)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ContentReported)
    @apply.register(UserReported)
    def _(self, event: ContentReported | UserReported, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        queue_key, report_key = self.keys(event)
        report = held(docs, report_key, Report)
        changed: dict[DocKey, Body] = {}
        if report is None:
            filed: Report = {
                "target_key": queue_key[1],
                "reporter_id": event.actor_id,
                "reason": event.reason,
                "note": event.note,
                "reported_at": event.occurred_at,
                "reported_as": mark(event),
            }
            changed[report_key] = filed
        elif report["reported_as"] != mark(event):
            return changed  # the reporter's second report of the target: counted once, by the first
        item = held(docs, queue_key, QueueItem) or _new_item(event)
        reopened = item["state"] == "restored"
        counted: QueueItem = {
            **item,
            "reports": item["reports"] + 1,
            "reasons": sorted({*item["reasons"], event.reason}),
            "first_reported_at": event.occurred_at if item["first_reported_at"] is None else item["first_reported_at"],
            "last_reported_at": event.occurred_at,
            "state": "open" if reopened else item["state"],
            "pending": 1 if reopened else item["pending"],
        }
        changed[queue_key] = counted
        return changed

    @apply.register(ContentReportErased)
    @apply.register(UserReportErased)
    def _(
        self, event: ContentReportErased | UserReportErased, docs: Mapping[DocKey, Body | None]
    ) -> dict[DocKey, Body]:
        """The reporter was erased: their report keeps its reason and its count, and forgets their words."""
        (report_key,) = self.keys(event)
        report = held(docs, report_key, Report)
        if report is None:
            return {}
        erased: Report = {**report, "note": ""}
        return {report_key: erased}

    @apply.register(ModerationDecided)
    @apply.register(UserModerated)
    def _(self, event: ModerationDecided | UserModerated, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        state = DECIDED_STATES.get(event.action)
        if state is None or isinstance(event, UserModerated) != (event.action in ("suspend", "unsuspend")):
            return {}
        (queue_key,) = self.keys(event)
        item = held(docs, queue_key, QueueItem) or _new_item(event)
        if not decision_applies(event, item["decided_at"]):
            return {}
        decided: QueueItem = {
            **item,
            "state": state,
            "pending": 0,
            "decided_by": event.actor_id,
            "decided_source": event.source,
            "decided_at": event.occurred_at,
            "decision_reason": event.reason,
        }
        return {queue_key: decided}
