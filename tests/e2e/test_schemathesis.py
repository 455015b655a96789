"""schemathesis against both OpenAPI documents, on a real `tribe serve`: no server error, nothing undocumented.

The RealWorld project's Conduit spec is fuzzed against /api and our own /v1/openapi.json against /v1,
with every check schemathesis has. Where the Conduit spec, not the server, is wrong, schemathesis.toml
turns the check off for that operation and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import UNLIMITED, Server, running_server

ROOT = Path(__file__).resolve().parents[2]
CONDUIT_SPEC = ROOT.parent / "shared" / "conduit" / "openapi.yml"
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
"""Puts what the test made into the bodies of /v1's requests (its docstring says why)."""
SEED = 14
EXAMPLES = 20
"""Test cases per operation in the fuzzing phase (the coverage phase adds its own, one per boundary)."""

MAIN = "main"
"""The run of every operation but the session enders; each run acts as a user of its own, `fuzz-<document>-<run>`."""
# Every request but these is fuzzed with one user's token. These end every session of the user they act
# as (a logout; a new password), so each runs in an invocation of its own, as a user of its own.
SESSION_ENDERS = {
    "conduit": ["--include-operation-id", "UpdateCurrentUser"],
    "v1": ["--include-path", "/v1/logout"],
}
# GET /v1/stream is not fuzzed: with a ticket (schemathesis may chain one from POST /v1/stream/tickets) its
# answer is a stream that never ends, which no check can wait for. tests/e2e/test_stream.py tests its answers,
# the errors included.
EVERYTHING_ELSE = {
    "conduit": ["--exclude-operation-id", "UpdateCurrentUser"],
    "v1": ["--exclude-path", "/v1/logout", "--exclude-path", "/v1/stream"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for both documents."""
    # Budgets out of reach: fuzzing is thousands of requests from one address (test_limits.py tests the 429s).
    # A write waits for its projection far longer than the 2 s default, so a busy CI machine never turns
    # an answer into a 202 (the Conduit spec cannot know it; test_http_conduit.py tests it).
    # The user /v1's main run acts as is a moderator and an admin, so the moderation and admin operations are
    # fuzzed past their 403 (test_moderation.py and test_admin_dead_letters.py test the 403s): a queue offset
    # beyond what SQLite can bind was a 500 found only this way.
    staff = f"fuzz-v1-{MAIN}"
    env = {**UNLIMITED, "TRIBE_WRITE_WAIT": "30", "TRIBE_MODERATORS": staff, "TRIBE_ADMINS": staff}
    with running_server(tmp_path_factory.mktemp("schemathesis") / "data", env=env) as running:
        yield running


TARGET = "fuzz-target"
"""The user whose tribe, article and comment the fuzzed requests name; schemathesis.toml's usernames too."""
MODERATED = "fuzz-moderated"
"""The user whose article, comment and name the fuzzed reports and moderation decisions name: a decision
hides or suspends what it names, which would leave TARGET's out of every other operation's reach."""


@dataclass(frozen=True)
class Targets:
    """What the test made, where a drawn id would name nothing and answer 404 before any rule: half the paths
    and half the valid /v1 bodies that take one name it instead."""

    dictionaries: dict[str, str | int]
    """By the dictionary of schemathesis.toml that holds it, for paths ([parameters]): TARGET's."""
    body_ids: dict[str, dict[str, str | int]]
    """By operation path, then by the body member that names it, for /v1's bodies (fuzz_hooks.py)."""


def made_by(server: Server, username: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new user's tribe, an article in it and a comment on it, as the API answered them."""
    token, _ = register(server, username)
    tribe = post(server, token, "/v1/tribes", {"name": f"{username} tribe"})["tribe"]
    card = post(server, token, "/v1/articles", {"title": "t", "body": "b", "tribe_id": tribe["id"]})["article"]
    comment = post(server, token, f"/api/articles/{card['slug']}/comments", {"comment": {"body": "c"}})["comment"]
    return tribe, card, comment


@pytest.fixture(scope="module")
def targets(server: Server) -> Targets:
    tribe, card, comment = made_by(server, TARGET)
    _, moderated_card, moderated_comment = made_by(server, MODERATED)
    moderated = {"article_id": moderated_card["id"], "comment_id": moderated_comment["id"], "username": MODERATED}
    return Targets(
        {"tribes": tribe["id"], "articles": card["id"], "slugs": card["slug"], "comments": comment["id"]},
        {
            "/v1/events": {"article_id": card["id"], "followee_id": card["author"]["id"]},
            "/v1/reports": moderated,
            "/v1/moderation/decisions": moderated,
        },
    )


def register(server: Server, username: str) -> tuple[str, str]:
    """A new user: their token, and the position of their registration (a position this log has written)."""
    body = {"user": {"username": username, "email": f"{username}@example.com", "password": "long-enough-pw"}}
    request = urllib.request.Request(
        f"{server.url}/api/users", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.load(response)["user"]["token"]
        return token, response.headers["X-Tribe-Position"]


def post(server: Server, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A write of `token`'s user: the answer's body."""
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def schemathesis(
    location: str, base_url: str, token: str, after: str, targets: Targets, selection: list[str], report: Path
) -> None:
    """One run with every check (schemathesis.toml turns them all on), which must find nothing.

    On a failure, the assertion shows the end of the CLI's report: each failure with a curl line that
    reproduces it.
    """
    config = report.with_suffix(".toml")
    dictionaries = (
        f"\n[dictionaries.{name}]\nvalues = [{json.dumps(value)}]\n" for name, value in targets.dictionaries.items()
    )
    config.write_text(CONFIG.read_text() + "".join(dictionaries))
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", location,
        "--url", base_url,
        "--header", f"Authorization: Token {token}",
        "--continue-on-failure",
        "--seed", str(SEED),
        "--max-examples", str(EXAMPLES),
        "--generation-database", "none",
        "--no-color",
        "--report", "json", "--report-json-path", str(report),
        *selection,
    ]
    env = {**os.environ, "TRIBE_FUZZ_AFTER": after}
    if location.endswith("/v1/openapi.json"):  # the Conduit spec's bodies carry no ids
        env |= {"SCHEMATHESIS_HOOKS": str(HOOKS), "TRIBE_FUZZ_IDS": json.dumps(targets.body_ids)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=report.parent, env=env)
    output = result.stdout[-20_000:] + result.stderr[-5_000:]
    assert report.exists(), output
    summary: dict[str, Any] = json.loads(report.read_text())
    assert result.returncode == 0 and not summary["failures"] and not summary["errors"], output
    assert summary["operations"]["tested"] == summary["operations"]["selected"] > 0, summary["operations"]


@pytest.mark.parametrize("document", ["conduit", "v1"])
def test_schemathesis_finds_nothing(
    server: Server, targets: Targets, document: str, tmp_path: Path
) -> None:
    location, base_url = {
        "conduit": (str(CONDUIT_SPEC), f"{server.url}/api"),
        "v1": (f"{server.url}/v1/openapi.json", server.url),
    }[document]
    for run, selection in ((MAIN, EVERYTHING_ELSE[document]), ("sessions", SESSION_ENDERS[document])):
        token, after = register(server, f"fuzz-{document}-{run}")
        schemathesis(location, base_url, token, after, targets, selection, tmp_path / f"{run}.json")
