"""The KeyStore port: where each user's data key lives, outside the log.

Personal fields of events are encrypted with their owner's data key (events/sealing.py), and
the log keeps only ciphertext. Destroying the key erases those fields from every copy of the
log at once, backups and replicas included: that is crypto-shredding. So the key store is the
one place where an erasure must be real and prompt, and it keeps nothing but keys:

- a key is stored wrapped (encrypted under the key-encryption key from the settings), so a copy
  of the store alone opens nothing;
- `destroy` deletes the key for good and leaves a marker without key material, so an owner
  whose key was destroyed never gets a new one (a late write of an erased user fails instead of
  starting a second life under a fresh key);
- the first key stored for an owner wins: two processes creating one at once agree on it.

Adapters: SQLite (events/adapters/sqlite_keys.py, the embedded default) and Redis
(events/adapters/redis_keys.py, for deployments with several hosts; docs/privacy.md says why).
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from dataclasses import dataclass


class KeyDestroyed(Exception):
    """The owner's key was destroyed: their data is erased and they can have no new key."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"the data key of {owner!r} was destroyed")
        self.owner = owner


class KeyStoreUnavailable(RuntimeError):
    """The key store cannot answer now. The call may or may not have taken effect: every call is safe to repeat."""


@dataclass(frozen=True, slots=True)
class StoredKeys:
    """What the store holds for the owners asked about: wrapped keys, and the owners whose key was destroyed.

    An owner in neither never had a key.
    """

    wrapped: dict[str, bytes]
    destroyed: frozenset[str]


class KeyStore(abc.ABC):
    @abc.abstractmethod
    async def get(self, owners: Collection[str]) -> StoredKeys:
        """The wrapped keys of these owners, in one round trip."""

    @abc.abstractmethod
    async def put_new(self, owner: str, wrapped: bytes) -> bytes:
        """Keep `wrapped` as the owner's key unless they have one; return the one kept (the first wins).

        KeyDestroyed if the owner's key was destroyed.
        """

    @abc.abstractmethod
    async def destroy(self, owner: str) -> None:
        """Delete the owner's key for good and remember that it was destroyed; idempotent.

        Returns once the deletion is durable: no later `get` in any process sees the key.
        """

    @abc.abstractmethod
    async def close(self) -> None: ...
