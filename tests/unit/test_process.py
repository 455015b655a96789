"""Every `tribe` process tunes itself before it works."""

from __future__ import annotations

import gc
from pathlib import Path

from click.testing import CliRunner

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
