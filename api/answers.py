"""Answers: JSON serialised with orjson, and a write's outcome as the status and headers it calls for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from services.outcome import Outcome, Pending, Written

T = TypeVar("T")
POSITION_HEADER = "X-Tribe-Position"
READ_MODEL_HEADER = "X-Tribe-Read-Model"
"""`behind` on a write's answer built from the event itself: the views had not reflected it yet."""


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """orjson, not the standard library's encoder: that was a tenth of a feed request."""
    return web.Response(body=_dumps(body), status=status, headers=headers, content_type="application/json")


def _dumps(body: Any) -> bytes:
    """JSON of a body whose keys are strings, or, for the few with numbers for keys, those as strings.

    Allowing numbers for keys doubles orjson's time on every body (8.7 us against 4.8 for a feed
    page), so a body is first encoded without, and only one that has them again with.
    """
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def accepted(written: Written) -> web.Response:
    """Durable at these positions, not projected within the wait: 202 and where to read from."""
    return json_response(
        {"status": "accepted", "positions": [p.token() for p in written.positions]},
        status=202,
        headers={POSITION_HEADER: written.token()},
    )


def answer(outcome: Outcome[T], present: Callable[[T], Any], status: int = 200) -> web.Response:
    """A write's answer with the position token for read-your-writes.

    Projected: the read model presented. Pending with a provisional answer: that, presented the same
    way and marked `X-Tribe-Read-Model: behind`. Pending without one: 202 and the positions.
    """
    headers = {POSITION_HEADER: outcome.written.token()}
    if isinstance(outcome, Pending):
        if outcome.provisional is None:
            return accepted(outcome.written)
        behind = {**headers, READ_MODEL_HEADER: "behind"}
        return json_response(present(outcome.provisional), status=status, headers=behind)
    return json_response(present(outcome.value), status=status, headers=headers)


def no_content(outcome: Outcome[None]) -> web.Response:
    """A deletion's answer: 204, marked `X-Tribe-Read-Model: behind` when the views have not reflected it yet."""
    headers = {POSITION_HEADER: outcome.written.token()}
    if isinstance(outcome, Pending):
        headers[READ_MODEL_HEADER] = "behind"
    return web.Response(status=204, headers=headers)
