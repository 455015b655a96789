"""Why a service refuses a command or a query, in the edge's neutral terms (the API maps them to statuses)."""

from __future__ import annotations


class Refused(Exception):
    """Nothing was appended; `what` names the field or thing at fault, `problem` says what is wrong."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: {problem}")
        self.what = what
        self.problem = problem


class Invalid(Refused):
    """The command is well-formed but breaks a rule (too long, taken, not allowed on yourself)."""


class BadQuery(Refused):
    """A query's parameters cannot be used (a malformed position or cursor, an unknown window)."""


class NotFound(Refused):
    def __init__(self, what: str) -> None:
        super().__init__(what, "not found")


class Forbidden(Refused):
    def __init__(self, what: str, problem: str = "belongs to someone else") -> None:
        super().__init__(what, problem)


class Unauthenticated(Refused):
    def __init__(self, problem: str, what: str = "token") -> None:
        super().__init__(what, problem)


class TooLarge(Refused):
    """More than a request may carry (events in one batch)."""


class Unavailable(Refused):
    """The log did not acknowledge the events; nothing was appended, the client may retry them."""

    def __init__(self, what: str, problem: str, retry_after: float) -> None:
        super().__init__(what, problem)
        self.retry_after = retry_after
