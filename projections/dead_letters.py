"""Dead letters: events a view cannot apply, parked with their key's later events, so nothing else stops.

Modelled on Axon's sequenced dead-letter queue. A batch that keeps failing because of its
events (bytes that do not decode, a reducer that raises, a document the store refuses; the
kinds `is_poison` names) is written again in halves, quarters and so on (`isolate`), down to
the events that fail on their own. Each is parked as a `failed` dead letter with its cause,
attempts and first failure time; every later event with the same log record key (the same
documents' feed: a key lives in one partition, in order) is parked `behind` it, so no document
ever skips an event; every other key goes on. Letters live in the store beside the checkpoints
(the `Store` port's `park` and `dead_letters`), written before the checkpoint that passes them.

`replay_sequence` applies a key's parked events in order through the view's `Projector`, the
one write path: `tribe dlq retry` and `skip` (and the admin routes, through services/admin.py)
call it by way of `DeadLetters`. A runtime that finds a key whose letters are all `behind` (the
failed one was retried or skipped while it parked more) replays them itself.

Documents fed by several keys (a view's `shared` collections: a username's handle, and the users
whose claims it decides; a followee's follower counter per partition; trending buckets per
partition) may move on past a parked event's version before it is retried; a retry then leaves
them as they are, says so (`Retried.left_behind`), and `tribe replay VIEW` rebuilds them exactly.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from events.codec import EventCodec
from events.log import Entry, Log
from projections.live import fenced
from projections.processor import EventFailed, Projector
from projections.store import DeadLetter, DocumentRefused, Store
from projections.views import View

Key = tuple[str, str]  # (topic, record key as text)
_CAUSE_LENGTH = 2000


def now_ms() -> int:
    return int(time.time() * 1000)


def key_text(key: bytes) -> str:
    """A record key as a letter holds it: text, with bytes that are not UTF-8 escaped."""
    return key.decode("utf-8", "backslashreplace")


def is_poison(exc: BaseException) -> bool:
    """Whether a failure is the fault of the events written, not of the moment (a store that is down)."""
    return isinstance(exc, (EventFailed, DocumentRefused))


def cause_of(exc: BaseException) -> str:
    """What failed, for people: `Undecodable: KeyError: ...`, `ReducerFailed: ValueError: ...`, and so on."""
    if isinstance(exc, EventFailed):
        return f"{type(exc).__name__}: {type(exc.cause).__name__}: {exc.cause}"[:_CAUSE_LENGTH]
    return f"{type(exc).__name__}: {exc}"[:_CAUSE_LENGTH]


class Parking:
    """One projection version's parked keys, as this process knows them.

    Its own parkings count at once; those of other processes, and letters retried or skipped
    by the operator, once `refresh` re-reads the store (every `every` seconds).
    """

    def __init__(self, store: Store, projection: str, *, every: float = 1.0) -> None:
        self.store = store
        self.projection = projection
        self.every = every
        self.orphans: list[list[DeadLetter]] = []  # keys whose letters are all behind: to be replayed
        self.last_cause: str | None = None
        self._heads: dict[Key, int] = {}  # a parked key's first parked offset
        self._failed: dict[Key, str] = {}  # a parked key's failed letter's id
        self._read_at = float("-inf")

    @property
    def keys(self) -> int:
        return len(self._heads)

    async def refresh(self, *, now: bool = False) -> None:
        """Re-read the projection's letters from the store, if `every` seconds have passed (or `now`)."""
        clock = time.monotonic()
        if not now and clock - self._read_at < self.every:
            return
        self._read_at = clock
        sequences: dict[Key, list[DeadLetter]] = {}
        for letter in await self.store.dead_letters(self.projection):
            sequences.setdefault((letter.topic, letter.key), []).append(letter)
        self._heads = {key: letters[0].offset for key, letters in sequences.items()}
        self._failed = {key: x.id for key, letters in sequences.items() for x in letters if x.state == "failed"}
        self.orphans = [letters for key, letters in sequences.items() if key not in self._failed]
        causes = [x for letters in sequences.values() for x in letters if x.state == "failed"]
        self.last_cause = max(causes, key=lambda x: x.last_failed_at).cause if causes else None

    def split(self, entries: Sequence[Entry]) -> tuple[Sequence[Entry], list[Entry]]:
        """The entries to fold, and those to park: of a parked key, at or after its first parked event."""
        heads = self._heads
        if not heads:
            return entries, []
        fed: list[Entry] = []
        behind: list[Entry] = []
        for entry in entries:
            head = heads.get((entry.position.topic, key_text(entry.key)))
            (behind if head is not None and entry.position.offset >= head else fed).append(entry)
        return fed, behind

    def _letter(self, entry: Entry, **fields: Any) -> DeadLetter:
        p = entry.position
        return DeadLetter(self.projection, p.topic, p.partition, p.offset, key_text(entry.key), **fields)

    async def park_behind(self, entries: Sequence[Entry]) -> None:
        at = now_ms()
        letters = []
        for entry in entries:
            key = (entry.position.topic, key_text(entry.key))
            cause = f"behind {self._failed.get(key, 'an earlier event of its key')}"
            letters.append(
                self._letter(entry, state="behind", cause=cause, attempts=0, first_failed_at=at, last_failed_at=at)
            )
        await self.store.park(letters)

    async def park_failed(self, entry: Entry, exc: BaseException, *, attempts: int, first_failed_at: int) -> None:
        letter = self._letter(
            entry, state="failed", cause=cause_of(exc), attempts=attempts, first_failed_at=first_failed_at,
            last_failed_at=now_ms(),
        )
        await self.store.park([letter])
        key = (letter.topic, letter.key)
        self._heads[key] = min(self._heads.get(key, letter.offset), letter.offset)
        self._failed.setdefault(key, letter.id)
        self.last_cause = letter.cause


@dataclass(slots=True)
class Isolated:
    """What `isolate` did with a batch: events applied and their document writes, events parked."""

    applied: int = 0
    writes: int = 0
    parked: int = 0


async def isolate(
    projector: Projector, entries: Sequence[Entry], parking: Parking, *, attempts: int, first_failed_at: int
) -> Isolated:
    """Write a batch that keeps failing in ever smaller parts, parking the events that fail on their own.

    Parts are written in the batch's order, so each partition's entries keep theirs. An event
    that fails alone for its own fault is parked as failed, and its key's later entries behind
    it. Raises what is no event's fault (the store unreachable): the caller retries later.
    """
    done = Isolated()
    parts: list[Sequence[Entry]] = [entries]
    while parts:
        part = parts.pop()
        fed, behind = parking.split(part)
        if behind:
            await parking.park_behind(behind)
        try:
            result = await projector.process(fed, behind)
        except Exception as exc:
            if not is_poison(exc) or not fed:
                raise
            if len(fed) > 1:
                middle = len(part) // 2
                parts += [part[middle:], part[:middle]]
                continue
            await parking.park_failed(fed[0], exc, attempts=attempts, first_failed_at=first_failed_at)
            await projector.process([], part)  # the checkpoint moves past the parked events
            done.parked += len(part)
            continue
        done.applied += result.events
        done.writes += result.writes
        done.parked += len(behind)
    return done


@dataclass(frozen=True, slots=True)
class Retried:
    """A retry's outcome: letters applied and removed; the one that failed again (the rest wait behind it)."""

    view: str
    """The view whose letters these are: `tribe replay` of it rebuilds what was left behind."""
    applied: list[DeadLetter]
    failed: DeadLetter | None
    skipped: DeadLetter | None
    left_behind: tuple[str, ...]
    """The view's `shared` collections, when events were applied: those may not reflect them until a replay."""


async def _entries_of(log: Log, letters: Sequence[DeadLetter]) -> list[Entry]:
    """The parked entries, read back from the log (one key's letters: one partition, in order)."""
    entries: list[Entry] = []
    wanted = [x.offset for x in letters]
    i = 0
    while i < len(wanted):
        letter = letters[i]
        chunk = await log.read(letter.topic, letter.partition, wanted[i], min(1000, wanted[-1] - wanted[i] + 1))
        found = {e.position.offset: e for e in chunk}
        if wanted[i] not in found:
            raise DeadLetterError(f"{letter.topic}:{letter.partition} has no entry at {wanted[i]}")
        while i < len(wanted) and wanted[i] in found:
            entries.append(found[wanted[i]])
            i += 1
    return entries


async def replay_sequence(
    log: Log, projector: Projector, letters: Sequence[DeadLetter], *, skip: DeadLetter | None = None
) -> Retried:
    """Apply a key's parked events in order through the projector; remove those applied (and `skip`, unapplied).

    The first event that fails again stays parked as the failed one, with its new cause and one
    attempt more; the events after it stay behind it. It is marked before the others are
    removed, so the key never looks free in between.
    """
    todo = [x for x in letters if skip is None or x.id != skip.id]
    entries = await _entries_of(log, todo)
    applied: list[DeadLetter] = []
    failed: DeadLetter | None = None
    try:
        await projector.process(entries)
        applied = todo
    except Exception:
        for letter, entry in zip(todo, entries):
            try:
                await projector.process([entry])
            except Exception as exc:
                failed = replace(
                    letter, state="failed", cause=cause_of(exc), attempts=letter.attempts + 1, last_failed_at=now_ms()
                )
                await projector.store.put_dead_letter(failed)
                break
            applied.append(letter)
    await projector.store.remove_dead_letters([*applied, *([skip] if skip is not None else [])])
    return Retried(projector.view.name, applied, failed, skip, projector.view.shared if applied else ())


class DeadLetterError(Exception):
    """A dead-letter command that cannot be carried out (a version built by other code, an entry gone)."""


class UnknownLetter(DeadLetterError):
    """No dead letter has this id."""


@dataclass(frozen=True, slots=True)
class Shown:
    """One letter, its key's sequence of letters, and the event it holds (or the bytes that do not decode)."""

    letter: DeadLetter
    sequence: list[DeadLetter]
    event: dict[str, Any] | None
    undecodable: str | None


def parse_id(letter_id: str) -> tuple[str, str, int, int]:
    """(projection, topic, partition, offset) of a letter id, `articles_v3:tribe.articles:5:120`."""
    try:
        projection, topic, partition, offset = letter_id.rsplit(":", 3)
        return projection, topic, int(partition), int(offset)
    except ValueError:
        raise UnknownLetter(f"{letter_id!r} is not a dead letter id (projection:topic:partition:offset)") from None


class DeadLetters:
    """The operator's commands on dead letters: `tribe dlq` and the admin routes (services/admin.py)."""

    def __init__(self, log: Log, store: Store, codec: EventCodec, views: Sequence[View]) -> None:
        self.log = log
        self.store = store
        self.codec = codec
        self.views = {view.name: view for view in views}

    async def letters(self) -> list[DeadLetter]:
        """Every dead letter, by projection and position."""
        return await self.store.dead_letters()

    async def _find(self, letter_id: str) -> tuple[DeadLetter, list[DeadLetter]]:
        projection = parse_id(letter_id)[0]
        letters = await self.store.dead_letters(projection)
        letter = next((x for x in letters if x.id == letter_id), None)
        if letter is None:
            raise UnknownLetter(f"no dead letter {letter_id}")
        return letter, [x for x in letters if (x.topic, x.key) == (letter.topic, letter.key)]

    async def show(self, letter_id: str) -> Shown:
        letter, sequence = await self._find(letter_id)
        (entry,) = await _entries_of(self.log, [letter])
        try:
            await self.codec.prepare_to_decode([entry.value])
            event = self.codec.decode(entry.value)
        except Exception:
            return Shown(letter, sequence, None, entry.value[:64].hex())
        return Shown(letter, sequence, {"type": type(event).__name__, **dataclasses.asdict(event)}, None)

    async def _projector(self, projection: str) -> Projector:
        name, _, version = projection.rpartition("_v")
        view = self.views.get(name)
        if view is None or not version.isdigit():
            raise DeadLetterError(f"no view builds {projection}")
        theirs = await fenced(self.store, view, int(version))
        if theirs is not None:
            raise DeadLetterError(
                f"{projection} is built by other code (fingerprint {theirs}); retry its letters with that code"
            )
        return Projector(self.store, self.codec, view, int(version))

    async def retry(self, letter_id: str) -> Retried:
        """Replay the letter's key: every parked event of it, in order."""
        letter, sequence = await self._find(letter_id)
        return await replay_sequence(self.log, await self._projector(letter.projection), sequence)

    async def skip(self, letter_id: str) -> Retried:
        """Give up on this event (it is never applied), and replay the rest of its key in order."""
        letter, sequence = await self._find(letter_id)
        return await replay_sequence(self.log, await self._projector(letter.projection), sequence, skip=letter)
