"""Crypto-shredding: every personal field of an event is encrypted with its owner's data key.

The log is immutable and kept forever, so erasing a user cannot mean rewriting it. Instead each
user has one data key (AES-256-GCM), the personal fields of the events they cause are sealed
with it, and an erasure destroys the key (events/keys.py): every copy of the log, replicas and
backups included, then holds only ciphertext nobody can open. Ids, event types, times and
counts stay in the clear; so do handle digests (`handle_digest`), which let the users view keep
usernames and e-mails unique without holding either.

A sealed value is `nonce (12 bytes) || ciphertext || tag`. Its associated data binds it to the
event id, the owner and the field name, so a ciphertext moved to another event, user or field
does not open. Data keys are stored wrapped by the key-encryption key (KEK) from the settings,
with the owner as associated data.

`KeyRing` is a process's view of the key store: keys are loaded in batches before a batch of
events is encoded or decoded (`load`, async), then used synchronously by the codec (`key`). A
key is kept for `ttl` seconds; a destroyed key is final and remembered.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.keys import KeyDestroyed, KeyStore

PERSONAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "UserRegistered": ("username", "email", "password_hash"),
    "UserUpdated": ("username", "email", "bio", "image", "password_hash", "display_name"),
    "ArticlePublished": ("slug", "title", "description", "body", "tags"),
    "ArticleEdited": ("slug", "title", "description", "body", "tags"),
    "CommentPosted": ("body",),
    "ContentReported": ("note",),
    "UserReported": ("note",),
}
"""The fields sealed with the actor's key, per event type. A slug is made from its title, so it is sealed too."""

HANDLE_FIELDS: Mapping[str, str] = {"username": "username_handle", "email": "email_handle"}
"""The handle a personal field claims, and the clear field that carries its digest (UserRegistered, UserUpdated)."""

HANDLES_OWNER = "tribe:handles"
"""The key-store owner of the key handle digests are made with: no user's id takes this form."""

NONCE_BYTES = 12


class KeyNotLoaded(RuntimeError):
    """A key was used before `KeyRing.load` fetched it: a caller skipped the load (a bug, never a user's fault)."""


class SealBroken(ValueError):
    """A sealed value does not open with its owner's key: it was altered or moved from another event or field."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def associated_data(event_id: str, owner: str, field: str) -> bytes:
    return "\x1f".join((event_id, owner, field)).encode()


def seal(key: bytes, associated: bytes, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, associated: bytes, sealed: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise SealBroken("a sealed value does not open under its event, owner and field") from None


def wrap(kek: bytes, owner: str, data_key: bytes) -> bytes:
    return seal(kek, b"data-key\x1f" + owner.encode(), data_key)


def unwrap(kek: bytes, owner: str, wrapped: bytes) -> bytes:
    return unseal(kek, b"data-key\x1f" + owner.encode(), wrapped)


def handle_digest(handle_key: bytes, kind: str, value: str) -> str:
    """The id of a handle document: a keyed digest of the handle, compared case-insensitively (Unicode case folding).

    Keyed, so the ids in the store and the digests in the log do not give away the e-mails and
    usernames they stand for to anyone without the key (an unkeyed hash of an e-mail is found by
    hashing a list of e-mails).
    """
    mac = hmac.new(handle_key, f"{kind}\x00{value.casefold()}".encode(), hashlib.sha256)
    return f"{kind}:{mac.hexdigest()[:40]}"


class KeyRing:
    """The data keys this process uses, fetched from the key store in batches and kept for `ttl` seconds."""

    def __init__(
        self, store: KeyStore, kek: bytes, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if len(kek) != 32:
            raise ValueError("the key-encryption key is 32 bytes (AES-256)")
        self.store = store
        self._kek = kek
        self._ttl = ttl
        self._clock = clock
        self._keys: dict[str, tuple[bytes, float]] = {}
        self._destroyed: set[str] = set()
        self._handle_key: bytes | None = None

    async def start(self) -> None:
        """Fetch (or create, the first time) the key handle digests are made with; once is enough."""
        if self._handle_key is not None:
            return
        await self.load([HANDLES_OWNER], create=True)
        key = self.key(HANDLES_OWNER)
        assert key is not None, "the handles key is never destroyed"
        self._handle_key = key

    def handle(self, kind: str, value: str) -> str:
        if self._handle_key is None:
            raise KeyNotLoaded("the key ring was not started")
        return handle_digest(self._handle_key, kind, value)

    async def load(self, owners: Iterable[str], *, create: bool = False) -> None:
        """Make the keys of these owners usable; with `create`, give a new key to an owner who never had one."""
        now = self._clock()
        wanted = {o for o in owners if o not in self._destroyed and self._keys.get(o, (b"", 0.0))[1] <= now}
        if not wanted:
            return
        found = await self.store.get(wanted)
        expires = now + self._ttl
        self._destroyed.update(found.destroyed)
        for owner, wrapped in found.wrapped.items():
            self._keys[owner] = (unwrap(self._kek, owner, wrapped), expires)
        if create:
            for owner in wanted - found.wrapped.keys() - found.destroyed:
                try:
                    kept = await self.store.put_new(owner, wrap(self._kek, owner, new_key()))
                except KeyDestroyed:
                    self._destroyed.add(owner)
                    continue
                self._keys[owner] = (unwrap(self._kek, owner, kept), expires)

    def key(self, owner: str) -> bytes | None:
        """The owner's data key; None once it was destroyed (their sealed fields read as erased)."""
        if owner in self._destroyed:
            return None
        held = self._keys.get(owner)
        if held is None:
            raise KeyNotLoaded(f"the key of {owner!r} was not loaded")
        return held[0]

    async def destroy(self, owner: str) -> None:
        """Destroy the owner's key in the store, then here: from now on nothing of theirs opens or is sealed."""
        await self.store.destroy(owner)
        self._keys.pop(owner, None)
        self._destroyed.add(owner)

    async def close(self) -> None:
        await self.store.close()
