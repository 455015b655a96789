"""The rules every service applies to what users write, and the integers a URL may hold."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.requests import integer
from services import rules
from services.articles import tag_list
from services.errors import Invalid


@given(st.text())
def test_not_blank_as_the_document_states_it_is_what_the_server_checks(value: str) -> None:
    assert (re.search(rules.NOT_BLANK, value) is None) == (rules.stripped(value) == "")


@pytest.mark.parametrize("blank", ["\ufeff", "\x1f", " \u3000\u2028 ", "\t\x85"])
def test_a_text_blank_to_either_regex_dialect_is_refused_and_a_tag_of_it_dropped(blank: str) -> None:
    with pytest.raises(Invalid):
        rules.text(blank, "title", max_length=10)
    assert tag_list([blank, f"{blank}rally{blank}"], "tagList") == ("rally",)


@pytest.mark.parametrize("name", ["alice\n", ".", "..", "", "a b", "x" * 65])
def test_a_username_outside_the_rule_is_refused(name: str) -> None:
    with pytest.raises(Invalid):
        rules.username(name)


@pytest.mark.parametrize("name", ["alice", "...", ".alice", "a.b-c_d"])
def test_a_username_within_the_rule_is_taken(name: str) -> None:
    assert rules.username(name) == name


@pytest.mark.parametrize("email", ["a@x.io\n", "a@b@c", "a x@y.io", "@x.io"])
def test_an_email_outside_the_rule_is_refused(email: str) -> None:
    with pytest.raises(Invalid):
        rules.email(email)


@given(st.integers())
def test_an_integer_written_in_ascii_digits_is_read_back(value: int) -> None:
    assert integer(str(value)) == value


@pytest.mark.parametrize("raw", ["1_0", " 1", "1 ", "010", "-0", "+1", "\u0661", "", "00", "1.0", "9" * 5000])
def test_an_integer_written_any_other_way_is_none(raw: str) -> None:
    assert integer(raw) is None
