"""Which TCP sockets a process holds, read from /proc: for tests that check connections as the kernel has them."""

from __future__ import annotations

import os
from pathlib import Path

ESTABLISHED = "01"
LISTENING = "0A"


def sockets(pid: int | str = "self") -> set[str]:
    """Inodes of the sockets the process's descriptors hold."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since listed
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def tcp(port: int, state: str, *, remote: bool = False) -> set[str]:
    """Inodes of the IPv4 sockets in `state` whose local port (or, with `remote`, peer port) is `port`."""
    column = 2 if remote else 1
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[column].split(":")[1], 16) == port and fields[3] == state:
            found.add(fields[9])
    return found
