"""schemathesis hooks for /v1 (SCHEMATHESIS_HOOKS, set by test_schemathesis.py): what exists, in request bodies.

schemathesis.toml's dictionaries put what the test made into path parameters. Ids in a body cannot be
given that way, and drawn at random they name nothing: a /v1/events batch, a report and a moderation
decision would be answered 404 before any other rule is reached. Half the bodies of those operations
have every such member replaced by what the test made (TRIBE_FUZZ_IDS: a JSON object, by member name).
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

KNOWN: dict[str, Any] = json.loads(os.environ.get("TRIBE_FUZZ_IDS", "{}"))
"""What exists, by the body member that names it: article_id, comment_id, followee_id, username."""


def with_known_ids(body: Any) -> Any:
    """The body with every member named in KNOWN, at any depth, set to what it names."""
    if isinstance(body, list):
        return [with_known_ids(item) for item in body]
    if isinstance(body, dict):
        return {key: KNOWN[key] if key in KNOWN else with_known_ids(value) for key, value in body.items()}
    return body


@schemathesis.hook.apply_to(path=["/v1/events", "/v1/reports", "/v1/moderation/decisions"])
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    known = with_known_ids(body)
    return st.just(body) if known == body else st.sampled_from([body, known])
