"""The moderation reducers and the classifier, without I/O: counts exact under redelivery, decisions applied."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import (
    CLASSIFIER_ACTOR,
    ArticleEdited,
    ArticlePublished,
    CommentPosted,
    ContentReported,
    Event,
    ModerationDecided,
    ModeratorGranted,
    ModeratorRevoked,
    UserModerated,
    UserRegistered,
    UserReported,
)
from reducers.articles import ArticlesReducer
from reducers.base import State, Versioned
from reducers.moderation import QUEUE, REPORTS, ModerationReducer, report_id, target_key
from reducers.trending import TrendingReducer
from reducers.users import UsersReducer
from services.classifier import Judge, WordList, decision_id
from tests.unit.event_strategies import (
    folded_in_batches,
    folded_partition_by_partition,
    logs,
    number,
    replay,
    versioned,
)

MODERATION_TYPES = ("ContentReported", "UserReported", "ModerationDecided", "UserModerated")
REDUCER = ModerationReducer()


def _bodies(state: State, collection: str) -> dict[str, Any]:
    return {doc_id: v.body for (c, doc_id), v in state.items() if c == collection}


def _expected_reports(events: list[Event]) -> dict[str, int]:
    """Distinct reporters per target: what the queue must count, whatever the deliveries."""
    reporters: dict[str, set[str]] = {}
    for e in events:
        if isinstance(e, (ContentReported, UserReported)):
            key = (
                target_key("user", e.target_id)
                if isinstance(e, UserReported)
                else target_key(e.target_kind, e.target_id, e.article_id)
            )
            assert key is not None
            reporters.setdefault(key, set()).add(e.actor_id)
    return {key: len(who) for key, who in reporters.items()}


@settings(max_examples=150, deadline=None)
@given(logs(*MODERATION_TYPES, "ArticlePublished", max_size=50), st.data())
def test_reports_count_each_reporter_once_in_any_batching(events: list[Event], data: st.DataObject) -> None:
    at_once, batched = folded_in_batches(REDUCER, events, data)
    assert at_once == batched
    by_partition, _ = folded_partition_by_partition(REDUCER, events, data)
    assert by_partition == at_once
    counted = {doc_id: body["reports"] for doc_id, body in _bodies(at_once, QUEUE).items() if body["reports"]}
    assert counted == _expected_reports(events)


@settings(max_examples=150, deadline=None)
@given(logs(*MODERATION_TYPES, max_size=40), st.data())
def test_redelivered_and_replayed_events_change_nothing(events: list[Event], data: st.DataObject) -> None:
    pairs = versioned(events)
    state = replay(REDUCER, pairs)
    again = data.draw(st.lists(st.sampled_from(pairs), max_size=20) if pairs else st.just([]), label="redelivered")
    assert replay(REDUCER, sorted(again, key=lambda p: p[0]), state) == state
    assert replay(REDUCER, pairs, state) == state


@settings(max_examples=150, deadline=None)
@given(logs("ContentReported", "UserReported", max_size=40), st.data())
def test_a_redelivered_report_completes_a_partial_write(events: list[Event], data: st.DataObject) -> None:
    """A store that kept a report and lost the queue document's write: the redelivered event counts it, once."""
    pairs = versioned(events)
    if not pairs:
        return
    cut = data.draw(st.integers(0, len(pairs) - 1), label="event whose queue write is lost")
    before = replay(REDUCER, pairs[:cut])
    written = replay(REDUCER, pairs[cut : cut + 1], before)
    version = pairs[cut][0]
    lost = {k: v for k, v in written.items() if not (k[0] == QUEUE and v.version == version)}
    lost.update({k: v for k, v in before.items() if k[0] == QUEUE and k in written and written[k].version == version})
    mended = replay(REDUCER, pairs[cut:], lost)
    assert mended == replay(REDUCER, pairs)


def _event(cls: type[Event], n: int, actor: str = "u1", **fields: Any) -> Any:
    return cls(event_id=f"e{n}", actor_id=actor, occurred_at=1_000 + n, **fields)


def _report(n: int, actor: str, reason: str = "spam", **target: str) -> ContentReported:
    kind = target.get("kind", "article")
    return _event(
        ContentReported,
        n,
        actor,
        target_kind=kind,
        target_id=target.get("id", "a1"),
        article_id="a1",
        reason=reason,
    )


def _decided(n: int, action: str, kind: str = "article", target: str = "a1", source: str = "moderator") -> Any:
    return _event(
        ModerationDecided,
        n,
        "mod",
        target_kind=kind,
        target_id=target,
        article_id="a1",
        action=action,
        reason="r",
        source=source,
    )


def test_the_queue_opens_counts_reasons_and_follows_decisions() -> None:
    events = [
        _report(1, "u1", "spam"),
        _report(2, "u2", "abuse"),
        _report(3, "u1", "other"),  # u1 again: counted once, its reason not added
    ]
    state = replay(REDUCER, versioned(events))
    item = _bodies(state, QUEUE)["article:a1"]
    assert (item["reports"], item["reasons"], item["state"], item["pending"]) == (2, ["abuse", "spam"], "open", 1)
    assert (item["first_reported_at"], item["last_reported_at"]) == (1_001, 1_002)
    assert _bodies(state, REPORTS)[report_id("article:a1", "u1")]["reason"] == "spam"

    state = replay(REDUCER, [(4, _decided(4, "hide"))], state)
    item = _bodies(state, QUEUE)["article:a1"]
    assert (item["state"], item["pending"], item["decided_by"], item["decided_source"]) == (
        "hidden",
        0,
        "mod",
        "moderator",
    )
    state = replay(REDUCER, [(5, _report(5, "u3"))], state)
    assert _bodies(state, QUEUE)["article:a1"]["state"] == "hidden"  # a report of a hidden target leaves it hidden
    state = replay(REDUCER, [(6, _decided(6, "restore"))], state)
    assert _bodies(state, QUEUE)["article:a1"]["state"] == "restored"
    state = replay(REDUCER, [(7, _report(7, "u2"))], state)
    assert _bodies(state, QUEUE)["article:a1"]["state"] == "restored"  # u2 reported before: nothing new
    state = replay(REDUCER, [(8, _report(8, "u4"))], state)
    item = _bodies(state, QUEUE)["article:a1"]
    assert (item["state"], item["pending"], item["reports"]) == ("open", 1, 4)  # a new reporter reopens it


def test_a_classifier_decision_appended_again_does_not_undo_a_later_restore() -> None:
    """On Kafka a rerun of the classifier may append its decision again: it carries the judged event's time."""
    published = _event(ArticlePublished, 1, "ann", article_id="a1", slug="s", title="t", description="d", body="b")
    by_classifier = dataclasses.replace(_decided(2, "hide", source="classifier"), occurred_at=1_001)
    restored = _decided(3, "restore")
    again = dataclasses.replace(by_classifier)
    later_edit = dataclasses.replace(by_classifier, event_id="e4.moderation", occurred_at=1_004)
    for reducer, key in (
        (ArticlesReducer(), ("articles", "a1")),
        (TrendingReducer(), ("trend_articles", "a1")),
        (REDUCER, (QUEUE, "article:a1")),
    ):
        state = replay(reducer, versioned([published, by_classifier, restored, again]))
        assert state[key].body["hidden" if key[0] != QUEUE else "state"] in (False, "restored"), reducer
        state = replay(reducer, [(5, later_edit)], state)
        assert state[key].body["hidden" if key[0] != QUEUE else "state"] in (True, "hidden"), reducer


def test_user_targets_are_suspended_and_unsuspended_and_an_action_must_fit_its_target() -> None:
    reported = _event(UserReported, 1, "u1", target_id="u2", reason="abuse")
    suspended = _event(UserModerated, 2, "mod", target_id="u2", action="suspend", reason="r", source="moderator")
    state = replay(REDUCER, versioned([reported, suspended]))
    assert _bodies(state, QUEUE)["user:u2"]["state"] == "suspended"
    unsuspended = dataclasses.replace(suspended, event_id="e3", occurred_at=1_003, action="unsuspend")
    state = replay(REDUCER, [(3, unsuspended)], state)
    assert _bodies(state, QUEUE)["user:u2"]["state"] == "restored"
    hide_a_user = dataclasses.replace(suspended, event_id="e4", action="hide")
    assert replay(REDUCER, [(4, hide_a_user)], state) == state
    suspend_an_article = _decided(5, "suspend")
    assert _bodies(replay(REDUCER, [(5, suspend_an_article)]), QUEUE) == {}


def test_a_decision_without_reports_enters_the_queue_decided() -> None:
    state = replay(REDUCER, [(1, _decided(1, "hide", "comment", "11", source="classifier"))])
    item = _bodies(state, QUEUE)["comment:a1:11"]
    assert (item["reports"], item["state"], item["pending"], item["decided_source"]) == (0, "hidden", 0, "classifier")


@pytest.mark.parametrize(
    ("kind", "target", "article_id"),
    [("article", "a2", "a1"), ("comment", "x1", "a1"), ("comment", "", "a1"), ("tribe", "t1", "a1")],
)
def test_a_target_no_route_can_name_writes_nothing(kind: str, target: str, article_id: str) -> None:
    assert target_key(kind, target, article_id) is None
    event = _event(ContentReported, 1, target_kind=kind, target_id=target, article_id=article_id, reason="spam")
    assert REDUCER.keys(event) == ()
    assert ArticlesReducer().keys(_decided(2, "hide", kind, target)) == ()


def test_cards_and_comments_are_hidden_and_restored_where_they_are_read() -> None:
    published = _event(ArticlePublished, 1, "ann", article_id="a1", slug="s", title="t", description="d", body="b")
    commented = _event(CommentPosted, 2, "ben", article_id="a1", comment_id=11, body="c")
    articles = ArticlesReducer()
    state = replay(articles, versioned([published, commented]))
    state = replay(articles, [(3, _decided(3, "hide")), (4, _decided(4, "hide", "comment", "11"))], state)
    assert state[("articles", "a1")].body["hidden"] and state[("comments", "a1:11")].body["hidden"]
    state = replay(articles, [(5, _decided(5, "restore"))], state)
    assert not state[("articles", "a1")].body["hidden"] and state[("comments", "a1:11")].body["hidden"]
    assert state[("articles", "a1")].body["comments_count"] == 1  # a hidden comment still counts

    trending = TrendingReducer()
    tags = replay(trending, versioned([published, _decided(2, "hide")]))
    assert tags[("trend_articles", "a1")].body["hidden"]


def test_the_operator_grants_and_revokes_the_moderator_role() -> None:
    users = UsersReducer()
    registered = _event(UserRegistered, 1, "u1", username="ann", email="a@x.io", password_hash="h")
    state = replay(users, versioned([registered]))
    assert state[("users", "u1")].body["moderator"] is False
    state = replay(users, [(2, _event(ModeratorGranted, 2, "tribe:operator", user_id="u1"))], state)
    assert state[("users", "u1")].body["moderator"] is True
    state = replay(users, [(3, _event(ModeratorRevoked, 3, "tribe:operator", user_id="u1"))], state)
    assert state[("users", "u1")].body["moderator"] is False
    nobody = replay(users, [(4, _event(ModeratorGranted, 4, "tribe:operator", user_id="u9"))], state)
    assert nobody == state  # a grant for no registered user is lost


def test_state_is_what_the_store_carries() -> None:
    """The fold's documents round-trip through JSON, as a store carries them (no tuples, no sets)."""
    state = replay(REDUCER, versioned(number([_report(0, "u1"), _report(0, "u2", "abuse")])))
    for versioned_doc in state.values():
        assert isinstance(versioned_doc, Versioned)
        assert all(not isinstance(v, (tuple, set, frozenset)) for v in versioned_doc.body.values())


# -- the classifier -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("buy Spam now", True),
        ("SPAM!", True),
        ("spammer", False),
        ("antispam", False),
        ("a crème brûlée", True),
        ("CRÈME", True),
        ("nothing here", False),
    ],
)
def test_the_word_list_matches_whole_words_in_any_case(text: str, hidden: bool) -> None:
    classifier = WordList(["spam", " Crème ", ""])
    assert (classifier.judge(text) is not None) is hidden


def test_an_empty_word_list_hides_nothing() -> None:
    assert WordList([]).judge("anything at all") is None


async def test_the_judge_decides_once_per_event_with_an_id_and_time_derived_from_it() -> None:
    judge = Judge(WordList(["spam"]))
    published = _event(ArticlePublished, 1, "ann", article_id="a1", slug="s", title="t", description="d", body="spam")
    edited = _event(ArticleEdited, 2, "ann", article_id="a1", tags=("spam",))
    commented = _event(CommentPosted, 3, "ben", article_id="a1", comment_id=11, body="Spam.")
    clean = _event(CommentPosted, 4, "ben", article_id="a1", comment_id=12, body="fine")
    decided = [d for e in (published, edited, commented, clean) for d in await judge.react(e)]
    assert [(d.event_id, d.actor_id, d.occurred_at) for d in decided] == [
        (decision_id("e1"), CLASSIFIER_ACTOR, 1_001),
        (decision_id("e2"), CLASSIFIER_ACTOR, 1_002),
        (decision_id("e3"), CLASSIFIER_ACTOR, 1_003),
    ]
    assert isinstance(decided[2], ModerationDecided)
    assert (decided[2].target_kind, decided[2].target_id, decided[2].action, decided[2].source) == (
        "comment",
        "11",
        "hide",
        "classifier",
    )
    assert decided == [d for e in (published, edited, commented) for d in await judge.react(e)]
    assert not judge.reacts_to(published)
