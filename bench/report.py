"""Figures, the targets they are measured against, the printed table and latest.json."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Target:
    text: str
    met: Callable[[Figure], bool]


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: Target | None = None

    @property
    def ratio(self) -> float:
        if self.baseline_value == 0:
            return math.nan
        return self.value / self.baseline_value

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "met" if self.target.met(self) else "MISSED"

    def as_json(self) -> dict[str, object]:
        ratio = self.ratio
        return {
            "name": self.name,
            "value": _clean(self.value),
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_value": _clean(self.baseline_value),
            "ratio": None if math.isnan(ratio) else round(ratio, 4),
        }


def _clean(x: float) -> float | None:
    if x is None or math.isnan(x):
        return None
    return round(x, 4)


def ratio_at_least(r: float) -> Target:
    return Target(f"ratio >= {r:g}", lambda f: f.ratio >= r)


def value_at_most(v: float, unit: str) -> Target:
    return Target(f"<= {v:g} {unit}", lambda f: f.value <= v)


def value_at_least(v: float, unit: str) -> Target:
    return Target(f">= {v:,.0f} {unit}", lambda f: f.value >= v)


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if x else "0"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "unit", "baseline (same run)", "baseline value", "ratio", "target", "")]
    rows.extend(
        (
            f.name,
            _fmt(f.value),
            f.unit,
            f.baseline,
            _fmt(f.baseline_value),
            "n/a" if math.isnan(f.ratio) else f"{f.ratio:.2f}",
            f.target.text if f.target else "",
            f.verdict(),
        )
        for f in figures
    )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), {model}, {ram} RAM, Python {platform.python_version()}"


def write(figures: list[Figure], path: Path | None = None) -> Path:
    path = path or RESULTS / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([f.as_json() for f in figures], indent=2) + "\n")
    return path


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
