"""A closed loop driven by wrk (Debian's `wrk`, a C load generator), when it is installed.

The load generator of bench/load.py spends about 0.1 ms of CPU per request, wrk about 0.04 ms: on
a 2-core machine either shares the cores with the server it measures, so a capacity measured with
wrk leaves the server more of them, as clients on other machines would. The same run measures the
baselines with the same generator, and the server's CPU per answer does not depend on it.
"""

from __future__ import annotations

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

    A warm-up run of `warmup` seconds (none at 0), then the measured one (at least a second).
    Returns the measured run's `rps`, and `answers`: every answer of both runs (what the server's
    CPU over both divides). Raises if any answer was a 4xx or 5xx (what wrk counts as "Non-2xx
    or 3xx"), a socket failed, or wrk said anything on stderr (a script it could not load, after
    which it would send `GET /` instead).
    """
    executable = shutil.which("wrk")
    if executable is None:
        raise RuntimeError("wrk is not installed: bash scripts/debian-packages installs it")
    script = workdir / "wrk-requests.lua"
    script.write_text(_script(requests))
    answers = 0
    if warmup > 0:
        answers += _run(executable, port, script, connections, max(1, round(warmup)))["answers"]
    measured = _run(executable, port, script, connections, max(1, round(seconds)))
    return {"rps": measured["rps"], "answers": answers + measured["answers"], "generator": "wrk"}


def _lua(text: str) -> str:
    """A Lua 5.1 string literal of `text`'s UTF-8 bytes: printable ASCII as it is, every other byte as `\\ddd`."""
    return '"' + "".join(
        chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in text.encode()
    ) + '"'


def _script(requests: list[dict[str, Any]]) -> str:
    """Lua that builds every request once, in `init` (after wrk has set the Host header), and sends them in turn."""
    built = "\n".join(
        f"  built[{i}] = wrk.format({_lua(r['method'])}, {_lua(r['path'])}, "
        f"{{{', '.join(f'[{_lua(k)}] = {_lua(v)}' for k, v in r.get('headers', {}).items())}}}, "
        f"{_lua(r['body']) if r.get('body') else 'nil'})"
        for i, r in enumerate(requests, start=1)
    )
    return (
        "local built = {}\nlocal turn = 0\n"
        f"init = function(args)\n{built}\nend\n"
        "request = function()\n  turn = turn % #built + 1\n  return built[turn]\nend\n"
    )


def _run(executable: str, port: int, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    done = subprocess.run(
        [executable, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=seconds + 40,
    )
    out = done.stdout
    if done.returncode != 0 or "requests in" not in out or done.stderr.strip():
        raise RuntimeError(f"wrk failed:\n{out}\n{done.stderr[-2000:]}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if failed:
        raise RuntimeError(f"wrk on port {port}: {failed.group(0)}")
    answers = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if answers is None or rate is None:
        raise RuntimeError(f"wrk said something else:\n{out}")
    return {"answers": int(answers.group(1)), "rps": float(rate.group(1))}
