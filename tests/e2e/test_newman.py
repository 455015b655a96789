"""The RealWorld Postman collection, run with newman against a real `tribe serve`."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.server import Server, running_server

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT.parent / "shared" / "conduit" / "Conduit.postman_collection.json"


def newman_binary() -> str:
    local = ROOT / "tests" / "newman" / "node_modules" / ".bin" / "newman"
    if local.exists():
        return str(local)
    found = shutil.which("newman")
    if found is None:
        raise RuntimeError(
            "newman is not installed: run `npm install --prefix tests/newman` (the README's test command does)"
        )
    return found


def run_collection(server: Server, report: Path) -> dict:
    """Run the whole collection once, no delay between requests; return newman's run summary."""
    name = "u" + uuid.uuid4().hex[:10]
    result = subprocess.run(
        [
            newman_binary(),
            "run",
            str(COLLECTION),
            "--env-var",
            f"APIURL={server.url}/api",
            "--env-var",
            f"USERNAME={name}",
            "--env-var",
            f"EMAIL={name}@example.com",
            "--env-var",
            "PASSWORD=correct-horse-battery",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = json.loads(report.read_text())["run"]
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return summary


def assert_collection_passed(summary: dict) -> None:
    """Every assertion of the RealWorld collection ran and none failed."""
    assert summary["stats"]["assertions"]["failed"] == 0
    assert summary["stats"]["assertions"]["total"] > 300
    assert summary["failures"] == []


@pytest.mark.newman
def test_realworld_collection_passes_with_no_failed_assertion(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        first = run_collection(server, tmp_path / "first.json")
        second = run_collection(server, tmp_path / "second.json")
    for summary in (first, second):
        assert_collection_passed(summary)
