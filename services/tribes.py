"""Tribes: create, find, join and leave them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import TribeCreated, TribeJoined, TribeLeft
from events.ids import new_event_id
from events.log import Position
from services import rules
from services.errors import NotFound
from services.outcome import Outcome, settle
from services.ports import Ports
from services.views import TribeView, tribe_views
from services.writer import envelope

Cursor = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CreateTribe:
    actor_id: str
    name: str
    description: str = ""


async def view(ports: Ports, tribe_id: str, viewer: str | None, after: Sequence[Position] = ()) -> TribeView:
    await ports.writer.caught_up(after)
    doc = await ports.social.tribe(tribe_id)
    if doc is None:
        raise NotFound("tribe")
    [shown] = await tribe_views(ports, [doc], viewer)
    return shown


async def page(
    ports: Ports,
    words: str | None,
    size: int,
    cursor: Cursor | None,
    viewer: str | None,
    after: Sequence[Position] = (),
) -> tuple[list[TribeView], Cursor | None]:
    """Tribes, most members first; with `words`, only those whose name holds every word."""
    await ports.writer.caught_up(after)
    docs, next_cursor = await ports.social.tribe_page(words, size, cursor)
    return await tribe_views(ports, docs, viewer), next_cursor


async def create(ports: Ports, cmd: CreateTribe) -> Outcome[TribeView]:
    tribe_id = new_event_id()
    event = TribeCreated(
        **envelope(cmd.actor_id),
        tribe_id=tribe_id,
        name=rules.text(cmd.name, "name", max_length=100),
        description=rules.text(cmd.description, "description", max_length=2_000, blank=True),
    )
    return await settle(ports.writer, [event], lambda: view(ports, tribe_id, cmd.actor_id))


async def membership(ports: Ports, actor_id: str, tribe_id: str, *, join: bool) -> Outcome[TribeView]:
    """Join or leave: always appended; the tribes reducer settles a repeat as no change."""
    if await ports.social.tribe(tribe_id) is None:
        raise NotFound("tribe")
    event = (TribeJoined if join else TribeLeft)(**envelope(actor_id), tribe_id=tribe_id)
    return await settle(ports.writer, [event], lambda: view(ports, tribe_id, actor_id))
