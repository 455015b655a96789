"""JSON answers: numbers as keys are written as strings, whichever way the body is encoded."""

from __future__ import annotations

import orjson
import pytest

from api.answers import json_response


def test_a_body_with_string_keys_is_written_as_with_numbers_allowed() -> None:
    body = {"articles": [{"slug": "a", "tagList": ["x"], "favoritesCount": 3}], "articlesCount": 1}
    assert json_response(body).body == orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def test_numbers_as_keys_are_written_as_strings_however_deep() -> None:
    body = {"offsets": {"events": {0: 12, 1: 7}}, "ok": True}
    assert orjson.loads(json_response(body).body) == {"offsets": {"events": {"0": 12, "1": 7}}, "ok": True}


def test_what_json_cannot_hold_still_fails() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        json_response({"tags": {"a", "b"}})
