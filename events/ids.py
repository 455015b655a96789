"""Time-ordered event ids (ULID layout: 48 bits of milliseconds, 80 random bits)."""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLIENT_EVENT_ID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


def new_event_id(now_ms: int | None = None) -> str:
    """A 26-character Crockford base32 ULID; ids made later sort later."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_numeric_id() -> int:
    """A positive id that JavaScript clients can hold exactly (< 2**53), roughly time-ordered."""
    millis = int(time.time() * 1000) & ((1 << 41) - 1)
    return (millis << 11) | int.from_bytes(os.urandom(2), "big") & 0x7FF
