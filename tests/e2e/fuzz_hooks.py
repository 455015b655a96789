"""schemathesis hooks for /v1 (SCHEMATHESIS_HOOKS, set by test_schemathesis.py): what exists, in request bodies.

schemathesis.toml's dictionaries put what the test made into path parameters. Ids in a body cannot be
given that way, and drawn at random they name nothing: a /v1/events batch, a report and a moderation
decision would be answered 404 before any other rule is reached. Half the valid bodies of those
operations have every such member replaced by what the test made (TRIBE_FUZZ_IDS: a JSON object, by
operation path, then by member name). A case drawn to break the schema is left as drawn: schemathesis
checks a changed body again, but a case that breaks the schema elsewhere too (a header) would still be
expected refused, with a body made valid.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import schemathesis
from schemathesis import GenerationMode

KNOWN: dict[str, dict[str, Any]] = json.loads(os.environ.get("TRIBE_FUZZ_IDS", "{}"))
"""What exists, by operation path, then by the body member that names it (article_id, comment_id, ...)."""


def with_known_ids(body: Any, known: dict[str, Any]) -> Any:
    """The body with every member named in `known`, at any depth, set to what it names."""
    if isinstance(body, list):
        return [with_known_ids(item, known) for item in body]
    if isinstance(body, dict):
        return {key: known[key] if key in known else with_known_ids(value, known) for key, value in body.items()}
    return body


@schemathesis.hook.apply_to(path=list(KNOWN))
def map_case(context: Any, case: Any) -> Any:
    """Half the valid bodies with ids (chosen by a digest of the body: the same case is the same request when
    schemathesis shrinks or replays it), with what the test made in place of those ids."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return case
    known = with_known_ids(case.body, KNOWN[case.path])
    if known != case.body and zlib.crc32(json.dumps(case.body, sort_keys=True).encode()) % 2:
        case.body = known
    return case
