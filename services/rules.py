"""Rules every service applies to what users write, whichever API it came through.

Patterns are matched whole (`fullmatch`): `$` alone also matches before a last newline, which
let `alice\n` stand beside `alice` as a second user who looks the same.
"""

from __future__ import annotations

import re

from services.errors import Invalid

_USERNAME = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_.\-]{1,64}")
"""Not `.` nor `..`: browsers resolve them in /profiles/{username} away, so no front end could reach them."""
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")
BLANK = "".join(
    [
        "\t\n\v\f\r \u00a0\u1680",
        *map(chr, range(0x2000, 0x200B)),
        "\u2028\u2029\u202f\u205f\u3000\ufeff",  # ECMAScript's white space and line ends: JSON Schema's \s
        "\x1c\x1d\x1e\x1f\x85",  # what Python's \s and str.strip() add (schemathesis checks with Python's)
    ]
)
"""What a blank string holds: white space to the regexes of JSON Schema and of Python alike."""
NOT_BLANK = f"[^{BLANK}]"
"""A string with something that is not blank, as a pattern that means the same in either dialect."""


def stripped(value: str) -> str:
    """`value` without blank characters at either end."""
    return value.strip(BLANK)


def text(value: str, name: str, *, max_length: int, blank: bool = False) -> str:
    if not blank and not stripped(value):
        raise Invalid(name, "can't be blank")
    if len(value) > max_length:
        raise Invalid(name, f"is longer than {max_length} characters")
    return value


def username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise Invalid("username", "must be 1-64 letters, digits, '_', '.' or '-', and not . or ..")
    return value


def email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise Invalid("email", "is invalid")
    return value


def password(value: str) -> str:
    if len(value) < 8 or len(value) > 256:
        raise Invalid("password", "must be 8 to 256 characters")
    return value
