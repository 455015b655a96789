"""What a worker does with a batch it cannot write: retry with backoff, then stop, never skip.

Both engines retry a failing batch `retries` times, `backoff` seconds doubling between
attempts, then stop the process with exit code 70 and a `projection_failed_stopping_worker`
line. A supervisor restarts it; a worker that keeps exiting 70 is stuck on an event it cannot
fold (a reducer bug, a store that refuses the document) and needs a person.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import structlog

log = structlog.get_logger("worker")

EXIT_PROJECTION_FAILED = 70  # EX_SOFTWARE


class ProjectionFailed(RuntimeError):
    """A batch of `view` could not be written after every retry; its offsets were not stored."""

    def __init__(self, view: str, cause: BaseException) -> None:
        super().__init__(f"{view}: {cause!r}")
        self.view = view
        self.cause = cause


def die(view: str, exc: BaseException) -> NoReturn:
    """Stop the process now: nothing after this point may acknowledge the failed batch."""
    log.critical("projection_failed_stopping_worker", view=view, error=repr(exc), exc_info=exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_PROJECTION_FAILED)
