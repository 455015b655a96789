"""Rules every service applies to what users write, whichever API it came through.

Patterns are matched whole (`fullmatch`): `$` alone also matches before a last newline, which
let `alice\n` stand beside `alice` as a second user who looks the same.
"""

from __future__ import annotations

import re

from services.errors import Invalid

_USERNAME = re.compile(r"(?!\.+\Z)[A-Za-z0-9_.\-]{1,64}")
"""Not dots alone: browsers resolve `.` and `..` in /profiles/{username} away, so no front end could reach them."""
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")


def text(value: str, name: str, *, max_length: int, blank: bool = False) -> str:
    if not blank and not value.strip():
        raise Invalid(name, "can't be blank")
    if len(value) > max_length:
        raise Invalid(name, f"is longer than {max_length} characters")
    return value


def username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise Invalid("username", "must be 1-64 letters, digits, '_', '.' or '-', not dots alone")
    return value


def email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise Invalid("email", "is invalid")
    return value


def password(value: str) -> str:
    if len(value) < 8 or len(value) > 256:
        raise Invalid("password", "must be 8 to 256 characters")
    return value
