"""Users and their unique handles (username, e-mail).

The log decides uniqueness: a handle document ("username:alice") names the
first user whose event claimed it. A registration or a change that asks for a
handle someone else holds is ignored, and the API, finding no such user (or
the old name) after its write, answers 422. Handles a user leaves stay theirs,
so nobody can take over a name that links and mentions still point at.

A user's `private` flag and `private_since` (the time of the event that made them private) come
from `ProfilePrivacySet`; a repeat changes nothing, so `private_since` stays the time they first
went private. Who may read a private user's articles is decided when read (services/privacy.py).

A user's `token_generation` counts the events that ended all their sessions: a
logout, or a new password. Tokens carry the generation they were issued at, and
the API refuses one older than the user's. The same password rehashed under newer
parameters (`UserUpdated.rehashed`) ends no session.

A user's `moderator` role is the last of the operator's ModeratorGranted / ModeratorRevoked
events about them (`tribe moderators grant|revoke`); a grant for a user not registered yet
is lost (the CLI names registered users only).

Each document's new state follows from its own state and the event, never from
whether another document of the same event was already written: a store whose
bulk writes are not atomic (Elasticsearch) may have kept some of them, and the
redelivered event must complete the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import (
    Event,
    ModeratorGranted,
    ModeratorRevoked,
    ProfilePrivacySet,
    UserLoggedOut,
    UserRegistered,
    UserUpdated,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Handle, User

USERS = "users"
HANDLES = "handles"


def handle_id(kind: str, value: str) -> str:
    """The id of a handle document; handles compare case-insensitively (Unicode case folding)."""
    return f"{kind}:{value.casefold()}"


def username_key(username: str) -> DocKey:
    return (HANDLES, handle_id("username", username))


def email_key(email: str) -> DocKey:
    return (HANDLES, handle_id("email", email))


def _free_for(docs: Mapping[DocKey, Body | None], key: DocKey, user_id: str) -> bool:
    holder = held(docs, key, Handle)
    return holder is None or holder["user_id"] == user_id


def _claim(key: DocKey, user_id: str) -> Handle:
    kind, value = key[1].split(":", 1)
    return {"kind": kind, "value": value, "user_id": user_id}


class UsersReducer(Reducer):
    collections = (USERS, HANDLES)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(UserRegistered)
    def _(self, event: UserRegistered) -> tuple[DocKey, ...]:
        return ((USERS, event.actor_id), username_key(event.username), email_key(event.email))

    @keys.register(UserLoggedOut)
    @keys.register(ProfilePrivacySet)
    def _(self, event: UserLoggedOut | ProfilePrivacySet) -> tuple[DocKey, ...]:
        return ((USERS, event.actor_id),)

    @keys.register(UserUpdated)
    def _(self, event: UserUpdated) -> tuple[DocKey, ...]:
        keys: list[DocKey] = [(USERS, event.actor_id)]
        if event.username is not None:
            keys.append(username_key(event.username))
        if event.email is not None:
            keys.append(email_key(event.email))
        return tuple(keys)

    @keys.register(ModeratorGranted)
    @keys.register(ModeratorRevoked)
    def _(self, event: ModeratorGranted | ModeratorRevoked) -> tuple[DocKey, ...]:
        return ((USERS, event.user_id),)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ModeratorGranted)
    @apply.register(ModeratorRevoked)
    def _(self, event: ModeratorGranted | ModeratorRevoked, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        user_key = (USERS, event.user_id)
        user = held(docs, user_key, User)
        if user is None:
            return {}
        return {user_key: {**user, "moderator": isinstance(event, ModeratorGranted)}}

    @apply.register(UserRegistered)
    def _(self, event: UserRegistered, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        user_key = (USERS, event.actor_id)
        handles = (username_key(event.username), email_key(event.email))
        if not all(_free_for(docs, k, event.actor_id) for k in handles):
            return {}
        claims: dict[DocKey, Body] = {k: _claim(k, event.actor_id) for k in handles}
        existing = held(docs, user_key, User)
        if existing is not None:
            return claims if existing["registered_by"] == event.event_id else {}
        user: User = {
            "user_id": event.actor_id,
            "registered_by": event.event_id,
            "username": event.username,
            "email": event.email,
            "password_hash": event.password_hash,
            "bio": "",
            "image": None,
            "display_name": None,
            "created_at": event.occurred_at,
            "updated_at": event.occurred_at,
            "token_generation": 0,
            "private": False,
            "private_since": None,
            "moderator": False,
        }
        return {user_key: user, **claims}

    @apply.register(UserUpdated)
    def _(self, event: UserUpdated, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        user_key = (USERS, event.actor_id)
        user = held(docs, user_key, User)
        if user is None:
            return {}
        handles = [k for k in self.keys(event) if k[0] == HANDLES]
        if not all(_free_for(docs, k, event.actor_id) for k in handles):
            return {}
        updated: User = {**user, "updated_at": event.occurred_at}
        if event.username is not None:
            updated["username"] = event.username
        if event.email is not None:
            updated["email"] = event.email
        if event.bio is not None:
            updated["bio"] = event.bio
        if event.password_hash is not None:
            updated["password_hash"] = event.password_hash
            if not event.rehashed:
                updated["token_generation"] = _generation(user) + 1
        if event.display_name is not None:
            updated["display_name"] = event.display_name
        if event.image is not None:
            updated["image"] = event.image or None
        return {user_key: updated, **{k: _claim(k, event.actor_id) for k in handles}}

    @apply.register(UserLoggedOut)
    def _(self, event: UserLoggedOut, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        user_key = (USERS, event.actor_id)
        user = held(docs, user_key, User)
        if user is None:
            return {}
        return {user_key: {**user, "token_generation": _generation(user) + 1}}

    @apply.register(ProfilePrivacySet)
    def _(self, event: ProfilePrivacySet, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        user_key = (USERS, event.actor_id)
        user = held(docs, user_key, User)
        if user is None or user.get("private", False) == event.private:
            return {}
        return {
            user_key: {**user, "private": event.private, "private_since": event.occurred_at if event.private else None}
        }


def _generation(user: User) -> int:
    """The user's token generation; 0 in a document written before users had one (users view v1)."""
    return user.get("token_generation", 0)
