"""The automatic moderator: a classifier behind a port judges new articles and comments, its decisions go to the log.

The runner (services/fanout_runner.py `ReactionRunner`, checkpoint `moderation`) hands this
policy every event of `tribe.articles`; it judges ArticlePublished, ArticleEdited and
CommentPosted by their text, and a text the classifier condemns gets a ModerationDecided
(`source` "classifier", actor CLASSIFIER_ACTOR) hiding the article or comment. A moderator may
restore it; the classifier never restores (an edit it finds clean leaves a hidden article hidden).

Idempotent by the event judged: the decision's id is `<judged event id>.moderation` and its
time the judged event's own, so a rerun after a crash, or a replay of the log, builds the same
event, which the embedded log refuses as a repeat of its actor's id (EventIdConflict, dropped by
the runner) and which, on Kafka, the reducers apply as a no-op (the card is hidden already).

`Classifier` is the port: `WordList` (TRIBE_MODERATION_WORDS) is the shipped adapter. A model
replaces it by subclassing `Classifier` and being passed to `Judge` in the composition root.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass

from events.catalogue import (
    CLASSIFIER_ACTOR,
    ArticleEdited,
    ArticlePublished,
    CommentPosted,
    Event,
    ModerationDecided,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a classifier decides of a text: the action ("hide") and why, in words a moderator reads."""

    action: str
    reason: str


class Classifier(abc.ABC):
    """Judges one text; None lets it be."""

    @abc.abstractmethod
    def judge(self, text: str) -> Verdict | None: ...


class WordList(Classifier):
    """Hides a text that holds any of the words, as a whole word, in any case (Unicode case folding)."""

    def __init__(self, words: Iterable[str]) -> None:
        folded = sorted({w.strip().casefold() for w in words if w.strip()})
        self.words = tuple(folded)
        alternatives = "|".join(re.escape(w) for w in folded)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if folded else None

    def judge(self, text: str) -> Verdict | None:
        if self._pattern is None:
            return None
        found = self._pattern.search(text.casefold())
        if found is None:
            return None
        return Verdict("hide", f"holds the listed word {found.group(0)!r}")


CHECKPOINT = "moderation"
"""The classifier runner's checkpoint in the store: how far it has judged each partition of `tribe.articles`."""


def decision_id(judged_event_id: str) -> str:
    """The id of the decision on one event: the same on every run, so the log keeps one."""
    return f"{judged_event_id}.moderation"


class Judge:
    """The classifier as the runner's policy: which events it judges, and the decisions they call for."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    @staticmethod
    def reacts_to(event: Event) -> bool:
        """False: the classifier reads no view, so the runner has nothing to wait for before judging."""
        return False

    async def react(self, event: Event) -> list[Event]:
        if isinstance(event, (ArticlePublished, ArticleEdited)):
            text = " ".join(
                part or "" for part in (event.title, event.description, event.body, " ".join(event.tags or ()))
            )
            return self._decided(event, "article", event.article_id, event.article_id, text)
        if isinstance(event, CommentPosted):
            return self._decided(event, "comment", str(event.comment_id), event.article_id, event.body)
        return []

    def _decided(self, judged: Event, kind: str, target_id: str, article_id: str, text: str) -> list[Event]:
        verdict = self.classifier.judge(text)
        if verdict is None:
            return []
        decision = ModerationDecided(
            event_id=decision_id(judged.event_id),
            actor_id=CLASSIFIER_ACTOR,
            occurred_at=judged.occurred_at,
            target_kind=kind,
            target_id=target_id,
            article_id=article_id,
            action=verdict.action,
            reason=verdict.reason,
            source="classifier",
            judged_event_id=judged.event_id,
        )
        return [decision]
