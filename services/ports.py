"""The ports every service takes: built once per process by the composition root (tribe/bootstrap.py)."""

from __future__ import annotations

from dataclasses import dataclass

from events.sealing import KeyRing
from projections.queries import ReadModels, SocialReads
from projections.timeline_queries import TimelineReads
from services.security import Generations, Tokens
from services.writer import EventWriter


@dataclass(frozen=True, slots=True)
class Ports:
    writer: EventWriter
    reads: ReadModels
    social: SocialReads
    timelines: TimelineReads
    tokens: Tokens
    generations: Generations
    keys: KeyRing
    """The users' data keys: an erasure destroys one."""
    registration_wait: float
    """Seconds a registration waits for the users view before answering that it is pending."""
