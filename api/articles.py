"""Articles as clients write them: one set of rules for Conduit's /api and the native /v1."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from api.bodies import text
from api.errors import unprocessable
from events.catalogue import ArticleEdited, ArticlePublished
from events.ids import new_event_id

TITLE_MAX = 300
DESCRIPTION_MAX = 1_000
BODY_MAX = 100_000


def slugify(title: str, article_id: str) -> str:
    """A readable slug made unique by the article id's random tail."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80].strip("-")
    suffix = article_id[-8:].lower()
    return f"{words}-{suffix}" if words else suffix


def tag_list(value: Any, name: str) -> tuple[str, ...]:
    """Distinct, trimmed tags; at most 20 of at most 64 characters."""
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise unprocessable(name, "must be a list of strings")
    tags = tuple(dict.fromkeys(t.strip() for t in value if t.strip()))
    if len(tags) > 20 or any(len(t) > 64 for t in tags):
        raise unprocessable(name, "allows at most 20 tags of at most 64 characters")
    return tags


def published(
    envelope: dict[str, Any],
    *,
    title: str,
    description: str,
    body: str,
    tags: Any,
    tags_field: str,
    tribe_id: str | None = None,
) -> ArticlePublished:
    """A checked ArticlePublished with a fresh article id; `envelope` is the event's id, actor and time."""
    article_id = new_event_id()
    title = text(title, "title", max_length=TITLE_MAX)
    return ArticlePublished(
        **envelope,
        article_id=article_id,
        slug=slugify(title, article_id),
        title=title,
        description=text(description, "description", max_length=DESCRIPTION_MAX, blank=True),
        body=text(body, "body", max_length=BODY_MAX),
        tags=tag_list(tags, tags_field),
        tribe_id=tribe_id,
    )


def edited(
    envelope: dict[str, Any],
    article_id: str,
    *,
    title: str | None,
    description: str | None,
    body: str | None,
) -> ArticleEdited:
    """A checked ArticleEdited; a None field is left as it was, a new title moves the slug."""
    if title is not None:
        title = text(title, "title", max_length=TITLE_MAX)
    return ArticleEdited(
        **envelope,
        article_id=article_id,
        slug=slugify(title, article_id) if title is not None else None,
        title=title,
        description=text(description, "description", max_length=DESCRIPTION_MAX, blank=True) if description is not None else None,
        body=text(body, "body", max_length=BODY_MAX) if body is not None else None,
    )
