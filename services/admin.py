"""The operator's use cases over HTTP: the dead letters of the views, for admins only.

Who is an admin: the users `TRIBE_ADMINS` names, by user id or username; nobody when it is
empty. The commands are those of `tribe dlq` (projections/dead_letters.py `DeadLetters`), the
same code: `retry` replays a key's parked events in order through the view's Projector, `skip`
gives up on one event and replays the rest of its key.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.dead_letters import DeadLetterError, DeadLetters, Retried, Shown, UnknownLetter
from projections.queries import ReadModels
from projections.store import DeadLetter
from services.errors import Forbidden, Invalid, NotFound

__all__ = ["Admin", "DeadLetter", "Retried", "Shown", "dead_letter", "dead_letters", "retry", "skip"]


@dataclass(frozen=True, slots=True)
class Admin:
    """What the admin services take: who the admins are, the users view, the dead letters."""

    admins: frozenset[str]
    reads: ReadModels
    letters: DeadLetters


async def _require_admin(admin: Admin, user_id: str) -> None:
    """The user is an admin by id, or by username as the users view has it.

    Read: the users view, for the username. A stale view knows an old username (a rename not yet
    projected) or none (a registration not yet projected): name admins by user id to be sure.
    """
    if user_id in admin.admins:
        return
    if admin.admins:
        user = await admin.reads.user(user_id)
        names = {name.casefold() for name in admin.admins}
        if user is not None and str(user["username"]).casefold() in names:
            return
    raise Forbidden("user", "is not an admin")


async def dead_letters(admin: Admin, user_id: str) -> list[DeadLetter]:
    await _require_admin(admin, user_id)
    return await admin.letters.letters()


async def dead_letter(admin: Admin, user_id: str, letter_id: str) -> Shown:
    await _require_admin(admin, user_id)
    try:
        return await admin.letters.show(letter_id)
    except UnknownLetter:
        raise NotFound("dead letter") from None
    except DeadLetterError as exc:
        raise Invalid("dead letter", str(exc)) from None


async def retry(admin: Admin, user_id: str, letter_id: str) -> Retried:
    """Replay the letter's key, every parked event of it in order; the first that fails again stays parked."""
    await _require_admin(admin, user_id)
    try:
        return await admin.letters.retry(letter_id)
    except UnknownLetter:
        raise NotFound("dead letter") from None
    except DeadLetterError as exc:
        raise Invalid("dead letter", str(exc)) from None


async def skip(admin: Admin, user_id: str, letter_id: str) -> Retried:
    """Give up on the letter's event (it is never applied), and replay the rest of its key in order."""
    await _require_admin(admin, user_id)
    try:
        return await admin.letters.skip(letter_id)
    except UnknownLetter:
        raise NotFound("dead letter") from None
    except DeadLetterError as exc:
        raise Invalid("dead letter", str(exc)) from None
