"""Passwords (Argon2id; older scrypt hashes still verify), access tokens (JWT, HS256 pinned, with expiry;
RFC 8725) and the token generations that revoke them.

A hash carries its algorithm and parameters (PHC string format: `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`,
or this server's earlier `scrypt$N$r$p$salt$hash`), so a hash written under older parameters still verifies
and `needs_rehash` tells the login to store a new one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from projections.kept import Kept

# OWASP Password Storage Cheat Sheet: Argon2id with 19 MiB of memory, 2 iterations, 1 degree of parallelism.
_ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
_ALGORITHM = "HS256"
_ISSUER = "tribestream"
_REMEMBERED = 10_000


def hash_password(password: str) -> str:
    return _ARGON2.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from, under the parameters `stored` names."""
    if stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return _verify_scrypt(password, stored)


def needs_rehash(stored: str) -> bool:
    """Whether `stored` was made with another algorithm or weaker parameters than `hash_password` uses now."""
    return not stored.startswith("$argon2id$") or _ARGON2.check_needs_rehash(stored)


@functools.cache
def unknown_user_hash() -> str:
    """A hash of a password nobody knows: a login for an unknown e-mail verifies against it, taking as long
    as a wrong password does, so the time of the answer does not tell which e-mails have an account."""
    return hash_password(secrets.token_urlsafe(32))


def _verify_scrypt(password: str, stored: str) -> bool:
    """This server's hashes before Argon2id: `scrypt$N$r$p$salt$digest`, salt and digest in base64."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        candidate = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate, expected)


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says: whom it acts as, and the token generation it was issued at."""

    user_id: str
    generation: int


class Tokens:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._verified: dict[str, tuple[Claims, float]] = {}  # token -> (claims, expiry)

    def issue(self, user_id: str, generation: int = 0) -> str:
        """A token acting as `user_id` until it expires or the user's token generation passes `generation`."""
        now = int(time.time())
        claims = {"sub": user_id, "gen": generation, "iss": _ISSUER, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def claims(self, token: str) -> Claims:
        """The claims of a validly signed, unexpired token; raises jwt.InvalidTokenError otherwise.

        A token that verified once is remembered with its expiry, so the signature and claims are
        not checked again on every request; once it expires it goes through jwt.decode again,
        which rejects it as before. Tokens issued before generations existed carry none: generation 0.
        """
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        decoded = jwt.decode(
            token,
            self._secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
        generation = decoded.get("gen", 0)
        if not isinstance(generation, int):
            raise jwt.InvalidTokenError("the generation claim is not an integer")
        claims = Claims(str(decoded["sub"]), generation)
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()
        self._verified[token] = (claims, float(decoded["exp"]))
        return claims

    def verify(self, token: str) -> str:
        """The user id in a validly signed, unexpired token; raises jwt.InvalidTokenError otherwise."""
        return self.claims(token).user_id


class Generations(Kept[str, int | None]):
    """Each user's token generation as the users view holds it (None: no such user), kept for `ttl` seconds.

    Every authenticated request asks; within `ttl` of the last read, the answer comes from memory. So a
    logout or password change made through another API process is seen here within `ttl` seconds of its
    projection; one made through this process is seen at once (`forget`).
    """
