"""The GitHub workflow (.github/workflows/production-half.yml) runs every test that needs Elasticsearch,
on the servers the compose stack runs.

No machine here can run it (it needs service containers), and actionlint (scripts/test) checks its
syntax, not what it runs. This asks pytest which tests the workflow's commands select: every test
marked `elasticsearch` must be among them, or it runs nowhere.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "production-half.yml"
JOBS: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]


def collected(arguments: list[str]) -> set[str]:
    """The ids of the tests pytest selects with these arguments, run from the repository's root."""
    found = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr
    return {line for line in found.stdout.splitlines() if "::" in line}


def test_the_workflow_runs_every_elasticsearch_test() -> None:
    steps = [step for job in JOBS.values() for step in job["steps"]]
    commands = [shlex.split(step["run"]) for step in steps if step.get("run", "").startswith("pytest ")]
    assert commands, "the workflow runs no pytest command"
    run = set().union(*(collected(command[1:]) for command in commands))
    marked = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")
                    if "mark.elasticsearch" in path.read_text())
    needed = collected(["-m", "elasticsearch", *marked])
    assert needed, "no test is marked elasticsearch"
    assert not needed - run, f"the workflow runs none of: {sorted(needed - run)}"


def test_its_elasticsearch_and_kafka_are_the_compose_stacks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for job in JOBS.values():
        for name in ("elasticsearch", "kafka"):
            assert job["services"][name]["image"] == compose[name]["image"], name
