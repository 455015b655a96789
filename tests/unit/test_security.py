"""Password hashes, token claims and the cache of token generations."""

from __future__ import annotations

import base64
import hashlib
import os

import jwt
import pytest

from services.security import (
    Generations,
    Tokens,
    hash_password,
    needs_rehash,
    unknown_user_hash,
    verify_password,
)


def _scrypt(password: str, n: int = 2**14) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return "$".join(["scrypt", str(n), "8", "1", base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def test_passwords_are_hashed_with_argon2id_at_owasp_parameters() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not needs_rehash(stored)
    assert hash_password("correct horse") != stored, "salted"


def test_older_hashes_verify_and_ask_to_be_rehashed() -> None:
    old = _scrypt("correct horse")
    assert verify_password("correct horse", old) and not verify_password("wrong horse", old)
    assert needs_rehash(old)
    weaker = "$argon2id$v=19$m=8192,t=1,p=1$" + hash_password("x").split("$", 4)[4]
    assert needs_rehash(weaker)


@pytest.mark.parametrize("stored", ["", "garbage", "scrypt$x$8$1$AA==$AA==", "$argon2id$v=19$nonsense", "md5$abc"])
def test_a_malformed_hash_verifies_nothing(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_the_unknown_user_hash_has_the_parameters_of_a_real_one() -> None:
    assert unknown_user_hash().rsplit("$", 2)[0] == hash_password("x").rsplit("$", 2)[0]
    assert unknown_user_hash() == unknown_user_hash()


def test_a_token_carries_its_generation_and_an_older_token_counts_as_generation_0() -> None:
    tokens = Tokens("s" * 64, 60)
    claims = tokens.claims(tokens.issue("u1", 3))
    assert (claims.user_id, claims.generation) == ("u1", 3)
    legacy = jwt.encode({"sub": "u1", "iss": "tribestream", "iat": 1, "exp": 2**40}, "s" * 64, algorithm="HS256")
    assert tokens.claims(legacy).generation == 0
    forged_kind = jwt.encode({"sub": "u1", "gen": "9", "iss": "tribestream", "iat": 1, "exp": 2**40}, "s" * 64)
    with pytest.raises(jwt.InvalidTokenError):
        tokens.claims(forged_kind)


async def test_generations_are_remembered_for_their_ttl_and_forgotten_on_request() -> None:
    stored: dict[str, int] = {"u1": 0}
    reads: list[str] = []
    now = [100.0]

    async def read(user_id: str) -> int | None:
        reads.append(user_id)
        return stored.get(user_id)

    generations = Generations(read, ttl=1.0, clock=lambda: now[0])
    assert await generations.get("u1") == 0
    stored["u1"] = 1
    now[0] += 0.5
    assert await generations.get("u1") == 0, "within the ttl: from memory"
    now[0] += 0.6
    assert await generations.get("u1") == 1, "after it: read again"
    stored["u1"] = 2
    generations.forget("u1")
    assert await generations.get("u1") == 2
    assert await generations.get("nobody") is None
    assert reads == ["u1", "u1", "u1", "nobody"]
