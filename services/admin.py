"""The operator's use cases over HTTP: how the views fare and their dead letters, for admins only.

Who is an admin: the users `TRIBE_ADMINS` names, by user id or username; nobody when it is
empty. The commands are those of `tribe dlq` (projections/dead_letters.py `DeadLetters`), the
same code: `retry` replays a key's parked events in order through the view's Projector, `skip`
gives up on one event and replays the rest of its key. `overview` is what the operator page (/ops)
shows: `tribe replay status` (replay/versions.py), each version's throughput, and the dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.dead_letters import DeadLetterError, DeadLetters, Retried, Shown, UnknownLetter
from projections.queries import ReadModels
from projections.store import DeadLetter
from replay.versions import Throughput, Versions, VersionStatus, ViewStatus
from services.errors import Forbidden, Invalid, NotFound

__all__ = [
    "Admin",
    "DeadLetter",
    "Overview",
    "Retried",
    "Shown",
    "VersionStatus",
    "ViewStatus",
    "dead_letter",
    "dead_letters",
    "overview",
    "retry",
    "skip",
]


@dataclass(frozen=True, slots=True)
class Admin:
    """What the admin services take: who the admins are, the users view, the dead letters, the views' versions."""

    admins: frozenset[str]
    reads: ReadModels
    letters: DeadLetters
    versions: Versions
    throughput: Throughput


@dataclass(frozen=True, slots=True)
class Overview:
    """Every view's versions as `tribe replay status` has them, their events per second, every dead letter."""

    views: list[ViewStatus]
    throughput: dict[tuple[str, int], float | None]  # (view, version) -> events/s; None until two samples
    dead_letters: list[DeadLetter]


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


async def overview(admin: Admin, user_id: str) -> Overview:
    """What the operator page shows; the throughput is measured between this call's checkpoints and earlier ones."""
    await _require_admin(admin, user_id)
    views = await admin.versions.status()
    return Overview(views, admin.throughput.rates(views), await admin.letters.letters())


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
