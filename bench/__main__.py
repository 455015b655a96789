"""`python -m bench [--quick] [--only SECTION,...]`: measure Tribestream against same-run baselines.

Prints a table (figure, value, baseline measured in the same run, ratio, target) and writes
bench/results/latest.json. See bench/README section in the project README for what each
figure means. Nothing here asserts anything: a missed target is reported, not raised.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import Sizes, quiet
from bench.report import Figure, machine, stamp, table, write
from tribe.process import tune_gc

SECTIONS = ("http", "projection", "replay", "growth", "kafka")


@dataclass
class Context:
    sizes: Sizes
    root: Path

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def use_run_keys(root: Path) -> None:
    """One key store for the run, as a deployment has one, unless TRIBE_KEY_STORE names one already.

    Named in the environment, which every process the run starts inherits (bench/keys.py).
    """
    if os.environ.get("TRIBE_KEY_STORE"):
        return
    os.environ["TRIBE_KEY_STORE"] = f"sqlite:///{root / 'keys' / 'keys.db'}"
    if not os.environ.get("TRIBE_KEY_ENCRYPTION_KEY"):
        os.environ["TRIBE_KEY_ENCRYPTION_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="scaled down: about a minute, for a smoke run")
    parser.add_argument("--only", help=f"comma-separated sections to run ({', '.join(SECTIONS)})")
    parser.add_argument("--out", type=Path, help="where to write the JSON results [bench/results/latest.json]")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs of every process)")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if os.environ.get("TRIBE_KEY_STORE") and not os.environ.get("TRIBE_KEY_ENCRYPTION_KEY"):
        # Each `tribe` process of the run has a data directory of its own, where it would make a key of its own.
        parser.error("TRIBE_KEY_STORE is set: set TRIBE_KEY_ENCRYPTION_KEY too, the key its data keys are wrapped with")

    quiet()
    tune_gc()  # the in-process figures (projection, replay, growth) run as `tribe` processes do
    sizes = Sizes.of(args.quick)
    root = Path(tempfile.mkdtemp(prefix="tribe-bench-"))
    use_run_keys(root)
    ctx = Context(sizes, root)
    figures: list[Figure] = []
    started = time.monotonic()
    from bench import sections

    runners: dict[str, Callable[[Context], list[Figure]]] = {
        "http": sections.http_embedded,
        "projection": sections.projection,
        "replay": sections.replay,
        "growth": sections.growth,
        "kafka": sections.kafka,
    }
    say(f"{'quick' if args.quick else 'full'} run on {machine()}; working in {root}")
    failed: list[str] = []
    try:
        for name in SECTIONS:
            if name in only:
                section_started = time.monotonic()
                say(f"{name}: starting")
                try:
                    figures += runners[name](ctx, say)
                except Exception:  # report it, keep the other sections' figures
                    failed.append(name)
                    say(f"{name}: FAILED\n{traceback.format_exc()}")
                    continue
                say(f"{name}: done in {time.monotonic() - section_started:.0f} s")
    except KeyboardInterrupt:
        say("interrupted; every process this run started has been stopped")
        return 130
    finally:
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(
        f"Tribestream benchmark, {'quick' if args.quick else 'full'} run, {stamp()}, {time.monotonic() - started:.0f} s"
    )
    print(f"Machine: {machine()}")
    print()
    print(table(figures))
    path = write(figures, args.out)
    print(f"\nwrote {path}")
    if failed:
        print(f"sections that failed (see above): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
