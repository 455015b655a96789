"""The store adapters' one way of saying that their backend does not answer now: StoreUnavailable.

The API answers StoreUnavailable with 503 and Retry-After, and the runtimes retry the batch
(services/errors.py `as_unavailable`); any other exception reaching the edge is a 500. Each
adapter names the failures of its backend that are of that kind (a SQLite file it cannot read,
a cluster that does not answer or is overloaded), and this decorator turns them into it in every
public operation, so operations added later are covered too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

from projections.store import StoreUnavailable

log = structlog.get_logger("store")

S = TypeVar("S", bound=type)


def unavailable_on(is_unavailable: Callable[[Exception], bool]) -> Callable[[S], S]:
    """A class decorator: every public coroutine method but `close` raises StoreUnavailable, logged with its cause,
    for an exception `is_unavailable` names; any other exception (KeyError for an unknown collection, ValueError
    for a bad name, a refused document) passes as it is."""

    def guard(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("store_unavailable", operation=name, error=f"{type(exc).__name__}: {exc}")
                raise StoreUnavailable(f"the store cannot {name.replace('_', ' ')} ({exc})") from exc

        return guarded

    def decorate(cls: S) -> S:
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and name != "close" and inspect.iscoroutinefunction(member):
                setattr(cls, name, guard(name, member))
        return cls

    return decorate
