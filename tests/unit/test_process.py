"""Every `tribe` process tunes itself before it works."""

from __future__ import annotations

import gc
from pathlib import Path

from click.testing import CliRunner

from projections.views import VIEWS
from tribe.cli import main
from tribe.process import GC_THRESHOLDS


def test_every_tribe_command_raises_the_collector_thresholds(tmp_path: Path) -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        result = CliRunner().invoke(main, ["replay", "status", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)


def test_replay_help_names_every_view() -> None:
    result = CliRunner().invoke(main, ["replay", "--help"])
    assert result.exit_code == 0, result.output
    listed = " ".join(result.output.split("Views:")[1].split("Options:")[0].split())
    assert {v.name for v in VIEWS} <= {name.strip(",.") for name in listed.split()}
