"""Why a service refuses a command or a query, in the edge's neutral terms (the API maps them to statuses)."""

from __future__ import annotations

from events.log import LogUnavailable, Position
from projections.store import StoreUnavailable


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


class TooMany(Refused):
    """More at once than a user may have (open streams)."""


class Conflict(Refused):
    """The command names something that exists as something else (an event id its actor used for another event)."""


class Unavailable(Refused):
    """The log or the store cannot do it now; the client may retry after `retry_after` seconds.

    For a write, `durable` is empty when no event was acknowledged. A log that acknowledges
    events one by one (Kafka) may have taken part of a batch: then it lists every event, in the
    order given, as (event id, its position if acknowledged, else None). An event not
    acknowledged may still be in the log; retried with its event id it is not appended twice
    only on the embedded log.
    """

    def __init__(
        self, what: str, problem: str, retry_after: float, durable: tuple[tuple[str, Position | None], ...] = ()
    ) -> None:
        super().__init__(what, problem)
        self.retry_after = retry_after
        self.durable = durable


def as_unavailable(exc: Exception) -> Unavailable | None:
    """A port's failure that reached the edge through a service, as the refusal it amounts to.

    The store not answering a read (StoreUnavailable; its adapter logged the cause) or the log
    not answering is Unavailable, to be retried; any other exception is not a refusal (None).
    """
    if isinstance(exc, StoreUnavailable):
        return Unavailable("store", "unavailable, try again later", exc.retry_after)
    if isinstance(exc, LogUnavailable):
        return Unavailable("log", "unavailable, try again later", exc.retry_after)
    return None
