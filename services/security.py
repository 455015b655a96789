"""Passwords (salted scrypt) and access tokens (JWT, HS256 pinned, with expiry; RFC 8725)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

import jwt

_N, _R, _P = 2**14, 8, 1
_ALGORITHM = "HS256"
_ISSUER = "tribestream"
_REMEMBERED_TOKENS = 10_000


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        ["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


class Tokens:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._verified: dict[str, tuple[str, float]] = {}  # token -> (user id, expiry)

    def issue(self, user_id: str) -> str:
        now = int(time.time())
        claims = {"sub": user_id, "iss": _ISSUER, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> str:
        """The user id in a valid token; raises jwt.InvalidTokenError otherwise.

        A token that verified once is remembered with its expiry, so the signature and claims are
        not checked again on every request; once it expires it goes through jwt.decode again,
        which rejects it as before.
        """
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        claims = jwt.decode(
            token,
            self._secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
        if len(self._verified) >= _REMEMBERED_TOKENS:
            self._verified.clear()
        self._verified[token] = (str(claims["sub"]), float(claims["exp"]))
        return str(claims["sub"])
