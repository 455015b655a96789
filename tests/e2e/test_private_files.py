"""The data directory's files are readable by their owner only from the moment they exist.

log.db and store.db hold e-mails and password hashes, jwt.secret the key that signs tokens.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tribe.bootstrap import create_app, jwt_secret
from tribe.settings import Settings


async def test_the_data_directory_files_are_private_from_the_start(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        settings = Settings(data_dir=tmp_path / "data")
        client = await aiohttp_client(create_app(settings))
        r = await client.post(
            "/api/users", json={"user": {"username": "alice", "email": "a@example.com", "password": "long-enough-pw"}}
        )
        assert r.status == 201
        names = ["jwt.secret", "log.db", "log.db-wal", "log.db-shm", "store.db", "store.db-wal", "store.db-shm"]
        modes = {name: stat.S_IMODE((settings.data_dir / name).stat().st_mode) for name in names}
        assert modes == dict.fromkeys(names, 0o600)
    finally:
        os.umask(previous)


def test_processes_starting_together_on_a_new_data_directory_share_one_whole_secret(tmp_path: Path) -> None:
    """One creates jwt.secret; every other reads it whole, never empty or half-written."""
    for attempt in range(30):
        settings = Settings(data_dir=tmp_path / f"data-{attempt}")
        secrets: list[str] = []
        start = threading.Barrier(8)

        def read(settings: Settings = settings, secrets: list[str] = secrets, start: threading.Barrier = start) -> None:
            start.wait()
            secrets.append(jwt_secret(settings))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(secrets)) == 1 and len(secrets[0]) >= 64, f"attempt {attempt}: {secrets}"
        assert stat.S_IMODE((settings.data_dir / "jwt.secret").stat().st_mode) == 0o600
        assert sorted(p.name for p in settings.data_dir.iterdir()) == ["jwt.secret"]


def test_an_empty_secret_file_stops_the_server_instead_of_signing_with_an_empty_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    (settings.data_dir / "jwt.secret").write_text("\n")
    with pytest.raises(ValueError, match=r"jwt\.secret"):
        jwt_secret(settings)
