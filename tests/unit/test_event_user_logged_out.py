"""The token generation in the users view: bumped by a logout and a new password, not by a rehash.

Folded at version = offset + 1 as every runtime does, so a redelivered logout bumps nothing twice.
"""

from __future__ import annotations

from events.catalogue import Event, UserLoggedOut, UserRegistered, UserUpdated
from events.routing import USERS as USERS_TOPIC
from events.routing import source_of
from reducers.base import State, Versioned
from reducers.users import USERS, UsersReducer
from tests.sealed import decode_now, encode_now, ready_codec
from tests.unit.event_strategies import replay

REDUCER = UsersReducer()


def _fold(*events: Event, state: State | None = None, first: int = 1) -> State:
    return replay(REDUCER, [(first + i, e) for i, e in enumerate(events)], state)


def _registered(actor: str = "u1") -> UserRegistered:
    return UserRegistered(
        event_id=f"r-{actor}", actor_id=actor, occurred_at=1, username=actor, email=f"{actor}@x.io", password_hash="h1"
    )


def _generation(state: State, actor: str = "u1") -> int:
    generation = state[(USERS, actor)].body["token_generation"]
    assert isinstance(generation, int)
    return generation


def test_a_registered_user_starts_at_generation_0() -> None:
    assert _generation(_fold(_registered())) == 0


def test_each_logout_bumps_the_generation() -> None:
    logouts = [UserLoggedOut(event_id=f"o{i}", actor_id="u1", occurred_at=10 + i) for i in range(3)]
    assert _generation(_fold(_registered(), *logouts)) == 3


def test_a_new_password_bumps_it_and_the_same_password_rehashed_does_not() -> None:
    changed = UserUpdated(event_id="p", actor_id="u1", occurred_at=10, password_hash="h2")
    rehashed = UserUpdated(event_id="q", actor_id="u1", occurred_at=11, password_hash="h3", rehashed=True)
    profile = UserUpdated(event_id="b", actor_id="u1", occurred_at=12, bio="hi")
    state = _fold(_registered(), changed, rehashed, profile)
    assert _generation(state) == 1
    assert state[(USERS, "u1")].body["password_hash"] == "h3"


def test_a_redelivered_logout_bumps_nothing() -> None:
    logout = UserLoggedOut(event_id="o", actor_id="u1", occurred_at=10)
    once = _fold(_registered(), logout)
    assert _fold(logout, state=once, first=2) == once


def test_a_logout_of_an_unknown_user_writes_nothing() -> None:
    assert _fold(UserLoggedOut(event_id="o", actor_id="u9", occurred_at=10)) == {}


def test_a_users_v1_document_without_a_generation_counts_from_0() -> None:
    """Until `tribe replay users` builds v2, the live v1 documents lack the field; they are still folded."""
    body = {k: v for k, v in _fold(_registered())[(USERS, "u1")].body.items() if k != "token_generation"}
    state = {(USERS, "u1"): Versioned(body, 1)}
    logout = UserLoggedOut(event_id="o", actor_id="u1", occurred_at=10)
    assert _generation(_fold(logout, state=state, first=2)) == 1


def test_a_logout_goes_to_the_users_topic_keyed_by_its_user_and_round_trips() -> None:
    logout = UserLoggedOut(event_id="o", actor_id="u1", occurred_at=10)
    assert source_of(logout) == source_of(_registered()) == (USERS_TOPIC, 0)
    codec = ready_codec()
    assert decode_now(codec, encode_now(codec, logout)) == logout
    rehash = UserUpdated(event_id="q", actor_id="u1", occurred_at=11, password_hash="h3", rehashed=True)
    assert decode_now(codec, encode_now(codec, rehash)) == rehash


def test_a_version_2_user_update_decodes_as_a_password_change() -> None:
    """Bytes written before `rehashed` existed: every password in them was a new one."""
    codec = ready_codec()
    (v2,) = [s for s in codec.known.values() if s.type_name == "UserUpdated" and s.version == 2]
    old = UserUpdated(event_id="p", actor_id="u1", occurred_at=10, password_hash="h2")
    assert decode_now(codec, codec.encode(old, v2)).rehashed is False
