"""A closed loop driven by wrk (Debian's `wrk`, a C load generator), when it is installed.

The load generator of bench/load.py spends about 0.1 ms of CPU per request, wrk about 0.04 ms: on
a 2-core machine either shares the cores with the server it measures, so a capacity measured with
wrk leaves the server more of them, as clients on other machines would. The same run measures the
baselines with the same generator, and the server's CPU per answer does not depend on it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any


def available() -> bool:
    return shutil.which("wrk") is not None


def closed_loop(
    port: int, requests: list[dict[str, Any]], connections: int, seconds: float, warmup: float, workdir: Path
) -> dict[str, Any]:
    """`connections` connections on one wrk thread, each sending the next of `requests` (in turn) once answered.

    A warm-up run of `warmup` seconds, then the measured one. Returns the measured run's `rps`, and
    `answers`: every answer of both runs (what the server's CPU over both divides). Raises if any
    answer was not a 2xx, or a socket failed.
    """
    script = workdir / "wrk-requests.lua"
    script.write_text(_script(requests))
    answers = 0
    measured: dict[str, Any] = {}
    for duration in (warmup, seconds):
        if duration <= 0:
            continue
        measured = _run(port, script, connections, max(1, round(duration)))
        answers += measured["answers"]
    return {"rps": measured["rps"], "answers": answers, "generator": "wrk"}


def _script(requests: list[dict[str, Any]]) -> str:
    """Lua that builds every request once, in `init` (after wrk has set the Host header), and sends them in turn."""
    built = "\n".join(
        f"  built[{i}] = wrk.format({json.dumps(r['method'])}, {json.dumps(r['path'])}, "
        f"{{{', '.join(f'[{json.dumps(k)}] = {json.dumps(v)}' for k, v in r.get('headers', {}).items())}}}, "
        f"{json.dumps(r['body']) if r.get('body') else 'nil'})"
        for i, r in enumerate(requests, start=1)
    )
    return (
        "local built = {}\nlocal next = 0\n"
        f"init = function(args)\n{built}\nend\n"
        "request = function()\n  next = next % #built + 1\n  return built[next]\nend\n"
    )


def _run(port: int, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    executable = shutil.which("wrk")
    if executable is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    done = subprocess.run(
        [executable, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=seconds + 40,
    )
    out = done.stdout
    if done.returncode != 0 or "requests in" not in out:
        raise RuntimeError(f"wrk failed:\n{out}\n{done.stderr[-2000:]}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if failed:
        raise RuntimeError(f"wrk on port {port}: {failed.group(0)}")
    answers = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if answers is None or rate is None:
        raise RuntimeError(f"wrk said something else:\n{out}")
    return {"answers": int(answers.group(1)), "rps": float(rate.group(1))}
