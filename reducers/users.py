"""Users and their unique handles (username, e-mail).

The log decides uniqueness: a handle document names the first user whose event
claimed it. Its id is a keyed digest of the handle ("username:3f1c...", events/sealing.py),
carried in the clear by the event whose personal fields are sealed: neither the store nor the
log holds a username or e-mail a handle document stands for. A registration or a change that asks for a
handle someone else holds is ignored, and the API, finding no such user (or
the old name) after its write, answers 422. Handles a user leaves stay theirs,
so nobody can take over a name that links and mentions still point at.

A user's `private` flag and `private_since` (the time of the event that made them private) come
from `ProfilePrivacySet`; a repeat changes nothing, so `private_since` stays the time they first
went private. Who may read a private user's articles is decided when read (services/privacy.py).

An erased user (`UserErased`) keeps a document with every personal field empty, so that a
redelivered registration cannot bring them back, and the handles they held are free again.

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
    UserErased,
    UserLoggedOut,
    UserRegistered,
    UserUpdated,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Handle, User

USERS = "users"
HANDLES = "handles"


def _handle_keys(event: UserRegistered | UserUpdated) -> list[DocKey]:
    """The handle documents the event claims: the digests it carries (empty: it claims none of that kind)."""
    return [(HANDLES, digest) for digest in (event.username_handle, event.email_handle) if digest]


def _free_for(docs: Mapping[DocKey, Body | None], key: DocKey, user_id: str) -> bool:
    holder = held(docs, key, Handle)
    return holder is None or holder["user_id"] in (None, user_id)


def _claim(key: DocKey, user_id: str) -> Handle:
    return {"kind": key[1].split(":", 1)[0], "user_id": user_id}


def _holding(user: User, keys: list[DocKey]) -> list[str]:
    """The user's handles with these claimed too: the ones they leave stay theirs."""
    handles = list(user.get("handles", []))
    return handles + [doc_id for _, doc_id in keys if doc_id not in handles]


class UsersReducer(Reducer):
    collections = (USERS, HANDLES)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(UserRegistered)
    def _(self, event: UserRegistered) -> tuple[DocKey, ...]:
        return ((USERS, event.actor_id), *_handle_keys(event))

    @keys.register(UserErased)
    def _(self, event: UserErased) -> tuple[DocKey, ...]:
        return ((USERS, event.actor_id), *((HANDLES, h) for h in event.handles))

    @keys.register(UserLoggedOut)
    @keys.register(ProfilePrivacySet)
    def _(self, event: UserLoggedOut | ProfilePrivacySet) -> tuple[DocKey, ...]:
        return ((USERS, event.actor_id),)

    @keys.register(UserUpdated)
    def _(self, event: UserUpdated) -> tuple[DocKey, ...]:
        return ((USERS, event.actor_id), *_handle_keys(event))

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
        handles = _handle_keys(event)
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
            "username_folded": event.username.casefold(),
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
            "handles": [doc_id for _, doc_id in handles],
            "erased": False,
            "moderator": False,
        }
        return {user_key: user, **claims}

    @apply.register(UserUpdated)
    def _(self, event: UserUpdated, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        user_key = (USERS, event.actor_id)
        user = held(docs, user_key, User)
        if user is None or user.get("erased", False):
            return {}
        handles = _handle_keys(event)
        if not all(_free_for(docs, k, event.actor_id) for k in handles):
            return {}
        updated: User = {**user, "updated_at": event.occurred_at, "handles": _holding(user, handles)}
        if event.username is not None:
            updated["username"] = event.username
            updated["username_folded"] = event.username.casefold()
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

    @apply.register(UserErased)
    def _(self, event: UserErased, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """The user's document keeps only what is no one's personal data; the handles listed are free again.

        What it writes does not depend on what the user wrote (in a replay after the erasure, the
        user's earlier events no longer decrypt and read as empty), so a replay and the live view
        agree: the handles are keyed digests the events carry unsealed. A handle is freed only if
        this user holds it. Those the user holds and the erasure does not list (a change claimed
        them after the erasure read the document) stay in `handles`, and the erasure runner frees
        them with a second erasure (services/erasure.py).
        """
        user_key = (USERS, event.actor_id)
        user = held(docs, user_key, User)
        if user is None:
            return {}
        erased: User = {
            "user_id": event.actor_id,
            "registered_by": user["registered_by"],
            "username": "",
            "username_folded": "",
            "email": "",
            "password_hash": "",
            "bio": "",
            "image": None,
            "display_name": None,
            "created_at": user["created_at"],
            "updated_at": event.occurred_at,
            "token_generation": _generation(user) + 1,
            "handles": [h for h in user.get("handles", []) if h not in event.handles],
            "erased": True,
            "private": user.get("private", False),
            "private_since": user.get("private_since"),
            "moderator": False,
        }
        freed: dict[DocKey, Body] = {}
        for handle in event.handles:
            key = (HANDLES, handle)
            holder = held(docs, key, Handle)
            if holder is not None and holder["user_id"] == event.actor_id:
                freed[key] = {"kind": holder["kind"], "user_id": None}
        return {user_key: erased, **freed}

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
