"""The reducers and the shared versioned fold.

Events are generated over a small universe (four users, three articles, a few
comment ids, usernames and e-mails that collide case-insensitively), appended to
partitions by the routing table, and folded at version = offset + 1, as every
runtime does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import (
    EVENT_TYPES,
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentDeleted,
    CommentPosted,
    Event,
    UserErased,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    UserUpdated,
)
from events.ids import new_event_id
from reducers.articles import ARTICLES, BUMPS, COMMENTS, LATEST_BUMPERS, ArticlesReducer, bump_id, comment_doc_id
from reducers.base import Body, DocKey, Reducer, State, Versioned, fold
from reducers.follows import FOLLOWS, FollowsReducer
from reducers.users import HANDLES, USERS, UsersReducer
from tests.unit.event_strategies import (
    USER_IDS,
    folded_in_batches,
    folded_partition_by_partition,
    handle_of,
    logs,
    number,
    replay,
    versioned,
)

ARTICLE_EVENT_TYPES = tuple(n for n in EVENT_TYPES if n.startswith(("Article", "Comment")))
REDUCERS: dict[str, Reducer] = {
    "users": UsersReducer(),
    "follows": FollowsReducer(),
    "articles": ArticlesReducer(),
}
PROPERTY = settings(max_examples=60, deadline=None)


def bodies(state: State) -> dict[DocKey, dict]:
    return {k: v.body for k, v in state.items()}


def api_shaped(events: list[Event]) -> list[Event]:
    """The events the API would write: none acts on an article never published or a user who does not exist.

    The Conduit API checks that an article or user exists before it appends an event about it.
    A card counts from its publication: a bump or a comment appended before it (no event the
    API appends) is recorded in its own document but counted on no card.
    """
    users, articles = REDUCERS["users"], REDUCERS["articles"]
    state: State = {}
    kept = []
    for event in events:
        if isinstance(event, UserUpdated) and (USERS, event.actor_id) not in state:
            continue
        article_id = getattr(event, "article_id", None)
        if article_id is not None and not isinstance(event, ArticlePublished) and (ARTICLES, article_id) not in state:
            continue
        kept.append(event)
        version = len(kept)
        for reducer in (users, articles):
            state.update(fold(reducer, state, [(version, event)]))
    return number(kept)


# -- (a) replay equals incremental -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(events=logs(max_size=50), data=st.data())
def test_folding_in_batches_equals_folding_at_once(name: str, events: list[Event], data: st.DataObject) -> None:
    reducer = REDUCERS[name]
    at_once, in_batches = folded_in_batches(reducer, events, data)
    assert in_batches == at_once


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(events=logs(max_size=50), data=st.data())
def test_reading_partition_by_partition_equals_log_order(name: str, events: list[Event], data: st.DataObject) -> None:
    """The runtimes read one partition at a time, in batches; the order across partitions must not matter."""
    at_once, by_partition = folded_partition_by_partition(REDUCERS[name], events, data)
    assert by_partition == at_once


# -- (b) redelivery changes nothing ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(events=logs(max_size=50).map(api_shaped))
def test_redelivering_any_applied_event_changes_nothing(name: str, events: list[Event]) -> None:
    reducer = REDUCERS[name]
    pairs = versioned(events)
    final = replay(reducer, pairs)
    for pair in pairs:
        assert fold(reducer, final, [pair]) == {}, pair
    for start in range(len(pairs)):
        assert fold(reducer, final, pairs[start:]) == {}


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(events=logs(max_size=50).map(api_shaped), data=st.data())
def test_redelivered_suffix_mid_stream_changes_nothing_and_the_end_is_the_same(
    name: str, events: list[Event], data: st.DataObject
) -> None:
    """A consumer that crashed after applying pairs[:k] and rereads from j <= k (at-least-once)."""
    reducer = REDUCERS[name]
    pairs = versioned(events)
    k = data.draw(st.integers(0, len(pairs)), label="applied")
    j = data.draw(st.integers(0, k), label="reread from")
    state = replay(reducer, pairs[:k])
    assert fold(reducer, state, pairs[j:k]) == {}
    assert replay(reducer, pairs[j:], state) == replay(reducer, pairs)


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(events=logs(max_size=50))
def test_redelivery_never_changes_a_document_that_exists(name: str, events: list[Event]) -> None:
    """On any log, shaped by the API or not, the version guard keeps every existing document as it is."""
    reducer = REDUCERS[name]
    pairs = versioned(events)
    final = replay(reducer, pairs)
    for pair in pairs:
        changed = fold(reducer, final, [pair])
        assert not set(changed) & set(final), pair


# -- (c) bumps ---------------------------------------------------------------------------------


def _publish(article_id: str = "a1", author: str = "u1", **fields: object) -> ArticlePublished:
    values = {"slug": "s", "title": "t", "description": "d", "body": "b", "tags": ()} | fields
    return ArticlePublished(event_id="p", actor_id=author, occurred_at=1, article_id=article_id, **values)


_bump_plans = st.dictionaries(st.sampled_from(USER_IDS), st.lists(st.booleans(), min_size=1, max_size=6), max_size=4)


def _interleave(plans: dict[str, list[bool]], order: list[str]) -> list[Event]:
    queues = {user: list(actions) for user, actions in plans.items()}
    events: list[Event] = [_publish()]
    for user in order:
        bump = queues[user].pop(0)
        cls = ArticleBumped if bump else ArticleUnbumped
        events.append(cls(event_id="", actor_id=user, occurred_at=0, article_id="a1"))
    return number(events)


@settings(max_examples=120, deadline=None)
@given(plans=_bump_plans, data=st.data())
def test_any_interleaving_of_bumps_counts_the_users_whose_last_action_is_a_bump(
    plans: dict[str, list[bool]], data: st.DataObject
) -> None:
    tokens = [user for user, actions in plans.items() for _ in actions]
    first = data.draw(st.permutations(tokens), label="one interleaving")
    second = data.draw(st.permutations(tokens), label="another")
    expected = sorted(user for user, actions in plans.items() if actions[-1])
    results = []
    for order in (first, second):
        state = replay(REDUCERS["articles"], versioned(_interleave(plans, order)))
        article = state[(ARTICLES, "a1")].body
        assert sorted(u for u in plans if state[(BUMPS, bump_id("a1", u))].body["active"]) == expected
        assert article["favorites_count"] == len(expected)
        _assert_latest(article["latest_bumpers"], order, plans, expected)
        results.append(article["favorites_count"])
    assert results[0] == results[1]


def _assert_latest(named: list[str], order: list[str], plans: dict[str, list[bool]], active: list[str]) -> None:
    """The card names at most a few bumpers, all bumping now, newest first, missing nobody newer than one it names."""
    became: dict[str, int] = {}  # when each user last went from not bumping to bumping
    bumping: set[str] = set()
    queues = {user: list(actions) for user, actions in plans.items()}
    for at, user in enumerate(order):
        bump = queues[user].pop(0)
        if bump and user not in bumping:
            became[user] = at
        bumping = bumping | {user} if bump else bumping - {user}
    assert len(named) <= LATEST_BUMPERS and set(named) <= set(active)
    assert named == sorted(named, key=lambda u: -became[u])
    if named:
        assert {u for u in active if became[u] > became[named[-1]]} <= set(named)


# -- (d) usernames and e-mails -------------------------------------------------------------------


def _model_users(events: list[Event]) -> tuple[dict[str, dict], dict[str, str]]:
    """Users and handle holders, straight from the rule: in log order, a claim wins if nobody else holds the handle."""
    users: dict[str, dict] = {}
    holders: dict[str, str] = {}
    for e in events:
        if isinstance(e, UserRegistered):
            wanted = [handle_of("username", e.username), handle_of("email", e.email)]
            if e.actor_id in users or any(holders.get(h, e.actor_id) != e.actor_id for h in wanted):
                continue
            users[e.actor_id] = {"username": e.username, "email": e.email}
        elif isinstance(e, UserUpdated):
            wanted = [handle_of("username", e.username)] if e.username is not None else []
            wanted += [handle_of("email", e.email)] if e.email is not None else []
            if e.actor_id not in users or any(holders.get(h, e.actor_id) != e.actor_id for h in wanted):
                continue
            if e.username is not None:
                users[e.actor_id]["username"] = e.username
            if e.email is not None:
                users[e.actor_id]["email"] = e.email
        else:
            continue
        for h in wanted:
            holders[h] = e.actor_id
    return users, holders


@settings(max_examples=120, deadline=None)
@given(logs("UserRegistered", "UserUpdated", max_size=30))
def test_the_first_claim_of_a_handle_in_log_order_wins_case_insensitively(events: list[Event]) -> None:
    state = replay(REDUCERS["users"], versioned(events))
    users, holders = _model_users(events)
    assert {k[1] for k in state if k[0] == USERS} == set(users)
    for user_id, expected in users.items():
        doc = state[(USERS, user_id)].body
        assert (doc["username"], doc["email"]) == (expected["username"], expected["email"])
    assert {k[1]: v.body["user_id"] for k, v in state.items() if k[0] == HANDLES} == holders
    # Two live users never share a handle, whatever the case.
    for field in ("username", "email"):
        values = [state[(USERS, u)].body[field].lower() for u in users]
        assert len(values) == len(set(values))


@settings(max_examples=120, deadline=None)
@given(logs("UserRegistered", max_size=20))
def test_a_registration_conflicting_with_an_earlier_one_creates_no_user(events: list[Event]) -> None:
    state: State = {}
    taken: dict[str, str] = {}
    for version, event in versioned(events):
        assert isinstance(event, UserRegistered)
        existed = (USERS, event.actor_id) in state
        changed = fold(REDUCERS["users"], state, [(version, event)])
        state.update(changed)
        conflict = any(
            taken.get(h, event.actor_id) != event.actor_id
            for h in (handle_of("username", event.username), handle_of("email", event.email))
        )
        if existed or conflict:
            assert changed == {}
        else:
            assert state[(USERS, event.actor_id)].body["username"] == event.username
            taken[handle_of("username", event.username)] = event.actor_id
            taken[handle_of("email", event.email)] = event.actor_id


# -- (e) comments, authorship, counters ------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(logs(*ARTICLE_EVENT_TYPES, max_size=50).map(api_shaped))
def test_a_live_cards_counts_are_its_live_comments_and_active_bumps(events: list[Event]) -> None:
    state = replay(REDUCERS["articles"], versioned(events))
    for (collection, article_id), doc in state.items():
        if collection != ARTICLES or doc.body["deleted"]:
            continue
        of = {
            kind: [d.body for (k, _), d in state.items() if k == kind and d.body["article_id"] == article_id]
            for kind in (COMMENTS, BUMPS)
        }
        assert doc.body["comments_count"] == sum(1 for c in of[COMMENTS] if not c["deleted"])
        assert doc.body["favorites_count"] == sum(1 for b in of[BUMPS] if b["active"])


@settings(max_examples=120, deadline=None)
@given(logs(*ARTICLE_EVENT_TYPES, max_size=50))
def test_only_authors_edit_and_delete(events: list[Event]) -> None:
    reducer = REDUCERS["articles"]
    state: State = {}
    views: dict[str, int] = {}
    for version, event in versioned(events):
        before = dict(state)
        changed = fold(reducer, state, [(version, event)])
        state.update(changed)
        article = before.get((ARTICLES, getattr(event, "article_id", "")))
        live = article is not None and not article.body["deleted"]
        if isinstance(event, (ArticleEdited, ArticleDeleted)):
            if not live or article.body["author_id"] != event.actor_id:
                assert changed == {}
            else:
                assert set(changed) == {(ARTICLES, event.article_id)}
                assert changed[(ARTICLES, event.article_id)].body["deleted"] == isinstance(event, ArticleDeleted)
        if isinstance(event, CommentDeleted):
            comment = before.get((COMMENTS, comment_doc_id(event.article_id, event.comment_id)))
            if comment is None or comment.body["deleted"] or comment.body["author_id"] != event.actor_id:
                assert changed == {}
            else:
                assert state[(COMMENTS, comment_doc_id(event.article_id, event.comment_id))].body["deleted"] is True
        if isinstance(event, ArticleViewed) and live:
            views[event.article_id] = views.get(event.article_id, 0) + 1
    for (collection, article_id), doc in state.items():
        if collection == ARTICLES:
            assert doc.body["views"] == views.get(article_id, 0)


@settings(max_examples=120, deadline=None)
@given(logs("UserFollowed", "UserUnfollowed", max_size=40))
def test_the_last_follow_or_unfollow_of_a_pair_wins(events: list[Event]) -> None:
    state = replay(REDUCERS["follows"], versioned(events))
    last: dict[str, bool] = {}
    for e in events:
        last[f"{e.actor_id}:{e.followee_id}"] = isinstance(e, UserFollowed)
    assert {k[1]: v.body["active"] for k, v in state.items() if k[0] == "follows"} == last


# -- examples, one or more per handler ----------------------------------------------------------------


def _apply(reducer: Reducer, *events: Event) -> State:
    return replay(reducer, [(i + 1, e) for i, e in enumerate(events)])


def _has(doc: Versioned, version: int, fields: dict) -> bool:
    """The document is at `version` and holds these fields with these values (other fields may exist)."""
    return doc.version == version and {k: doc.body.get(k, "<missing>") for k in fields} == fields


def username_key(username: str) -> tuple[str, str]:
    """The handle document of a username, as the codec gives its digest to the events (events/sealing.py)."""
    return (HANDLES, handle_of("username", username))


def email_key(email: str) -> tuple[str, str]:
    return (HANDLES, handle_of("email", email))


def _reg(actor: str, username: str, email: str, at: int = 10) -> UserRegistered:
    return UserRegistered(
        event_id=f"r-{actor}", actor_id=actor, occurred_at=at, username=username, email=email, password_hash="h",
        username_handle=username_key(username)[1], email_handle=email_key(email)[1],
    )


def _renamed(actor: str, username: str, at: int = 20, **fields: str) -> UserUpdated:
    return UserUpdated(
        event_id=f"u-{actor}-{at}", actor_id=actor, occurred_at=at, username=username,
        username_handle=username_key(username)[1], **fields,
    )


def test_registration_creates_the_user_and_claims_both_handles() -> None:
    state = _apply(REDUCERS["users"], _reg("u1", "Alice", "Alice@X.io"))
    assert _has(
        state[(USERS, "u1")],
        1,
        {
            "user_id": "u1",
            "username": "Alice",
            "email": "Alice@X.io",
            "password_hash": "h",
            "bio": "",
            "image": None,
            "created_at": 10,
            "updated_at": 10,
        },
    )
    assert state[username_key("alice")].body == {"kind": "username", "user_id": "u1"}
    assert state[email_key("alice@x.io")].body == {"kind": "email", "user_id": "u1"}
    assert len(state) == 3


def test_erasure_empties_the_user_and_frees_the_handles_they_hold() -> None:
    update = _renamed("u1", "alicia", bio="my bio")
    erased_at = UserErased(
        event_id="x", actor_id="u1", occurred_at=30,
        handles=(username_key("alice")[1], username_key("alicia")[1], email_key("a@x.io")[1]),
    )
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), update, erased_at)
    user = state[(USERS, "u1")].body
    assert user["erased"] and user["handles"] == []
    assert "alice" not in str(user) and "a@x.io" not in str(user) and "my bio" not in str(user)
    for key in (username_key("alice"), username_key("alicia"), email_key("a@x.io")):
        assert state[key].body["user_id"] is None
    again = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), update, erased_at, _reg("u2", "Alice", "A@x.io"))
    assert again[(USERS, "u2")].body["username"] == "Alice"
    assert again[username_key("alice")].body["user_id"] == "u2"


def test_erasure_does_not_depend_on_what_the_user_wrote() -> None:
    """A replay after an erasure reads the user's sealed fields as empty: it must end where the live view did."""
    erased_at = UserErased(event_id="x", actor_id="u1", occurred_at=30, handles=(username_key("alice")[1],))
    live = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _renamed("u1", "alice", bio="b"), erased_at)
    unreadable = replace(_reg("u1", "alice", "a@x.io"), username="", email="", password_hash="")
    replayed = _apply(
        REDUCERS["users"], unreadable, replace(_renamed("u1", "alice", bio="b"), username="", bio=""), erased_at
    )
    assert {k: v.body for k, v in live.items()} == {k: v.body for k, v in replayed.items()}


def test_handles_an_erasure_does_not_list_stay_in_the_document_until_a_second_erasure_frees_them() -> None:
    """A rename that lands between the erasure's read of the document and the erasure: its name is not listed."""
    listed = (username_key("alice")[1], email_key("a@x.io")[1])
    erased_at = UserErased(event_id="x", actor_id="u1", occurred_at=30, handles=listed)
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _renamed("u1", "alicia"), erased_at)
    assert state[(USERS, "u1")].body["handles"] == [username_key("alicia")[1]]
    assert state[username_key("alicia")].body["user_id"] == "u1"
    kept = UserErased(event_id="x.handles.kept", actor_id="u1", occurred_at=30, handles=(username_key("alicia")[1],))
    again = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _renamed("u1", "alicia"), erased_at, kept)
    assert again[(USERS, "u1")].body["handles"] == [] and again[(USERS, "u1")].body["erased"]
    assert again[username_key("alicia")].body["user_id"] is None


def test_erasure_frees_only_handles_the_user_holds() -> None:
    erased_at = UserErased(event_id="x", actor_id="u1", occurred_at=30, handles=(username_key("bob")[1],))
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _reg("u2", "bob", "b@x.io"), erased_at)
    assert state[username_key("bob")].body["user_id"] == "u2"


def test_registration_with_a_taken_username_in_other_case_is_ignored() -> None:
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _reg("u2", "ALICE", "b@x.io"))
    assert (USERS, "u2") not in state
    assert email_key("b@x.io") not in state


def test_registration_with_a_taken_email_is_ignored_and_frees_nothing() -> None:
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _reg("u2", "bob", "A@X.IO"))
    assert (USERS, "u2") not in state
    assert username_key("bob") not in state


def test_a_second_registration_of_the_same_user_is_ignored() -> None:
    again = replace(_reg("u1", "alice2", "a2@x.io"), event_id="r-u1-again")
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), again)
    assert state[(USERS, "u1")].body["username"] == "alice"
    assert username_key("alice2") not in state


def test_update_changes_fields_and_claims_new_handles_keeping_old_ones() -> None:
    update = _renamed("u1", "alicia", bio="hi", image="me.png", password_hash="h2")
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), update)
    user = state[(USERS, "u1")].body
    assert (user["username"], user["bio"], user["image"], user["password_hash"]) == ("alicia", "hi", "me.png", "h2")
    assert (user["email"], user["created_at"], user["updated_at"]) == ("a@x.io", 10, 20)
    assert state[username_key("alicia")].body["user_id"] == "u1"
    assert state[username_key("alice")].body["user_id"] == "u1"
    assert state[(USERS, "u1")].version == 2


def test_update_with_empty_image_clears_it() -> None:
    events = [
        _reg("u1", "alice", "a@x.io"),
        UserUpdated(event_id="u1", actor_id="u1", occurred_at=20, image="me.png"),
        UserUpdated(event_id="u2", actor_id="u1", occurred_at=30, image=""),
    ]
    assert _apply(REDUCERS["users"], *events)[(USERS, "u1")].body["image"] is None


def test_update_to_a_handle_someone_else_holds_changes_nothing() -> None:
    update = _renamed("u2", "Alice", bio="new")
    state = _apply(REDUCERS["users"], _reg("u1", "alice", "a@x.io"), _reg("u2", "bob", "b@x.io"), update)
    assert state[(USERS, "u2")].body["username"] == "bob"
    assert state[(USERS, "u2")].body["bio"] == ""
    assert state[username_key("alice")].body["user_id"] == "u1"


def test_update_of_an_unknown_user_is_ignored() -> None:
    update = _renamed("u9", "zed")
    assert _apply(REDUCERS["users"], update) == {}


def test_users_reducer_ignores_other_events() -> None:
    event = UserFollowed(event_id="f", actor_id="u1", occurred_at=1, followee_id="u2")
    assert REDUCERS["users"].keys(event) == ()
    assert REDUCERS["users"].apply(event, {}) == {}


def test_follow_then_unfollow_keeps_one_inactive_pair() -> None:
    follow = UserFollowed(event_id="f", actor_id="u1", occurred_at=5, followee_id="u2")
    unfollow = UserUnfollowed(event_id="g", actor_id="u1", occurred_at=6, followee_id="u2")
    state = _apply(REDUCERS["follows"], follow)
    assert [k for k in state if k[0] == FOLLOWS] == [(FOLLOWS, "u1:u2")]
    pair = {"follower_id": "u1", "followee_id": "u2"}
    assert _has(state[(FOLLOWS, "u1:u2")], 1, {**pair, "active": True, "updated_at": 5})
    state = _apply(REDUCERS["follows"], follow, unfollow)
    assert [k for k in state if k[0] == FOLLOWS] == [(FOLLOWS, "u1:u2")]
    assert _has(state[(FOLLOWS, "u1:u2")], 2, {**pair, "active": False, "updated_at": 6})


def test_follows_reducer_ignores_other_events() -> None:
    assert REDUCERS["follows"].keys(_publish()) == ()


def test_publish_creates_the_article_with_sorted_unique_tags() -> None:
    state = _apply(REDUCERS["articles"], _publish(tags=("py", "go", "py")))
    assert _has(
        state[(ARTICLES, "a1")],
        1,
        {
            "article_id": "a1",
            "author_id": "u1",
            "slug": "s",
            "title": "t",
            "description": "d",
            "body": "b",
            "tags": ["go", "py"],
            "created_at": 1,
            "updated_at": 1,
            "favorites_count": 0,
            "latest_bumpers": [],
            "comments_count": 0,
            "views": 0,
            "deleted": False,
        },
    )


def test_a_second_publish_of_the_same_article_is_ignored() -> None:
    state = _apply(REDUCERS["articles"], _publish(), _publish(author="u2", title="other"))
    assert state[(ARTICLES, "a1")].body["author_id"] == "u1"
    assert state[(ARTICLES, "a1")].version == 1


def test_author_edits_only_the_given_fields() -> None:
    edit = ArticleEdited(event_id="x", actor_id="u1", occurred_at=9, article_id="a1", title="new")
    article = _apply(REDUCERS["articles"], _publish(), edit)[(ARTICLES, "a1")].body
    assert (article["title"], article["slug"], article["body"], article["updated_at"]) == ("new", "s", "b", 9)


def test_non_author_edit_and_delete_are_ignored() -> None:
    edit = ArticleEdited(event_id="x", actor_id="u2", occurred_at=9, article_id="a1", title="new")
    delete = ArticleDeleted(event_id="y", actor_id="u2", occurred_at=9, article_id="a1")
    state = _apply(REDUCERS["articles"], _publish(), edit, delete)
    assert state[(ARTICLES, "a1")].body["title"] == "t"
    assert state[(ARTICLES, "a1")].body["deleted"] is False
    assert state[(ARTICLES, "a1")].version == 1


def test_delete_marks_the_article_and_later_events_are_ignored() -> None:
    events = [
        _publish(),
        ArticleDeleted(event_id="y", actor_id="u1", occurred_at=9, article_id="a1"),
        ArticleEdited(event_id="x", actor_id="u1", occurred_at=10, article_id="a1", title="new"),
        ArticleBumped(event_id="b", actor_id="u2", occurred_at=11, article_id="a1"),
        ArticleViewed(event_id="v", actor_id="u2", occurred_at=12, article_id="a1"),
        CommentPosted(event_id="c", actor_id="u2", occurred_at=13, article_id="a1", comment_id=11, body="hi"),
    ]
    state = _apply(REDUCERS["articles"], *events)
    article = state[(ARTICLES, "a1")]
    assert article.version == 2
    assert (article.body["deleted"], article.body["title"], article.body["favorites_count"]) == (True, "t", 0)
    # The user's bump and comment are theirs whatever the card's state; reads leave out a deleted article's.
    assert state[(BUMPS, "a1:u2")].body["active"] and not state[(COMMENTS, "a1:11")].body["deleted"]


def test_bump_twice_counts_once_and_unbump_takes_it_back() -> None:
    bump = ArticleBumped(event_id="b", actor_id="u2", occurred_at=2, article_id="a1")
    bump_again = replace(bump, event_id="b2")
    other = ArticleBumped(event_id="b3", actor_id="u3", occurred_at=3, article_id="a1")
    unbump = ArticleUnbumped(event_id="n", actor_id="u2", occurred_at=4, article_id="a1")
    state = _apply(REDUCERS["articles"], _publish(), bump, bump_again, other)
    article = state[(ARTICLES, "a1")]
    assert (article.body["latest_bumpers"], article.body["favorites_count"], article.version) == (["u3", "u2"], 2, 4)
    assert state[(BUMPS, "a1:u2")] == Versioned(
        {"article_id": "a1", "user_id": "u2", "active": True, "updated_at": 2, "recent": ["02:b", "12:b2"]}, 3
    )
    article = _apply(REDUCERS["articles"], _publish(), bump, other, unbump)[(ARTICLES, "a1")]
    assert (article.body["latest_bumpers"], article.body["favorites_count"], article.version) == (["u3"], 1, 4)


def test_bump_of_an_unknown_article_is_the_users_and_counted_nowhere() -> None:
    bump = ArticleBumped(event_id="b", actor_id="u2", occurred_at=2, article_id="a9")
    assert set(_apply(REDUCERS["articles"], bump)) == {(BUMPS, "a9:u2")}


def test_each_view_counts_once_at_its_version() -> None:
    view = ArticleViewed(event_id="v", actor_id="u2", occurred_at=2, article_id="a1", referrer="r")
    state = _apply(REDUCERS["articles"], _publish(), view, replace(view, event_id="v2"))
    assert state[(ARTICLES, "a1")] == Versioned({**state[(ARTICLES, "a1")].body, "views": 2}, 3)
    assert fold(REDUCERS["articles"], state, [(3, view)]) == {}


def test_two_users_views_with_one_client_event_id_both_count() -> None:
    """Client event ids are scoped by actor (the log keeps both events): so is the receipt."""
    view = ArticleViewed(event_id="shared", actor_id="u2", occurred_at=2, article_id="a1")
    state = _apply(REDUCERS["articles"], _publish(), view, replace(view, actor_id="u3", occurred_at=3))
    assert state[(ARTICLES, "a1")].body["views"] == 2



def test_comment_posted_adds_the_comment_and_counts_it() -> None:
    post = CommentPosted(event_id="c", actor_id="u2", occurred_at=5, article_id="a1", comment_id=11, body="hi")
    state = _apply(REDUCERS["articles"], _publish(), post)
    assert _has(
        state[(COMMENTS, "a1:11")],
        2,
        {
            "comment_id": 11,
            "article_id": "a1",
            "author_id": "u2",
            "body": "hi",
            "created_at": 5,
            "updated_at": 5,
            "deleted": False,
            "posted_as": "5:c",
            "deleted_as": None,
        },
    )
    article = state[(ARTICLES, "a1")]
    assert (article.body["comments_count"], article.version) == (1, 2)


def test_a_comment_id_posted_twice_keeps_the_first() -> None:
    post = CommentPosted(event_id="c", actor_id="u2", occurred_at=5, article_id="a1", comment_id=11, body="hi")
    again = replace(post, event_id="c2", actor_id="u3", body="other")
    state = _apply(REDUCERS["articles"], _publish(), post, again)
    assert state[(COMMENTS, "a1:11")].body["author_id"] == "u2"
    assert state[(ARTICLES, "a1")].body["comments_count"] == 1


def test_comment_author_deletes_and_others_cannot() -> None:
    post = CommentPosted(event_id="c", actor_id="u2", occurred_at=5, article_id="a1", comment_id=11, body="hi")
    by_other = CommentDeleted(event_id="d", actor_id="u1", occurred_at=6, article_id="a1", comment_id=11)
    by_author = replace(by_other, event_id="d2", actor_id="u2", occurred_at=7)
    state = _apply(REDUCERS["articles"], _publish(), post, by_other)
    assert state[(COMMENTS, "a1:11")].body["deleted"] is False
    assert state[(ARTICLES, "a1")].body["comments_count"] == 1
    state = _apply(REDUCERS["articles"], _publish(), post, by_other, by_author)
    assert state[(COMMENTS, "a1:11")].body["deleted"] is True
    assert state[(COMMENTS, "a1:11")].body["updated_at"] == 7
    assert state[(ARTICLES, "a1")].body["comments_count"] == 0


def test_articles_reducer_ignores_user_events() -> None:
    event = _reg("u1", "alice", "a@x.io")
    assert REDUCERS["articles"].keys(event) == ()
    assert REDUCERS["articles"].apply(event, {}) == {}


def test_fold_does_not_modify_the_state_it_is_given() -> None:
    state = _apply(REDUCERS["articles"], _publish())
    snapshot = {k: Versioned(dict(v.body), v.version) for k, v in state.items()}
    view = ArticleViewed(event_id="v", actor_id="u2", occurred_at=2, article_id="a1")
    changed = fold(REDUCERS["articles"], state, [(2, view)])
    assert changed[(ARTICLES, "a1")].body["views"] == 1
    assert state == snapshot


def test_a_subclass_that_overrides_apply_keeps_its_override_after_calling_super() -> None:
    class Shouting(ArticlesReducer):
        def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
            changed = super().apply(event, docs)
            return {k: {**v, "title": str(v["title"]).upper()} if k[0] == "articles" else v for k, v in changed.items()}

    reducer = Shouting()
    for title in ("first", "second"):
        event = ArticlePublished(
            event_id=new_event_id(), actor_id="a", occurred_at=1, article_id=title, slug=title, title=title,
            description="", body="b",
        )
        [body] = reducer.apply(event, {("articles", title): None}).values()
        assert body["title"] == title.upper()
