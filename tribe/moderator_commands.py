"""`tribe moderators grant|revoke USERNAME`: the moderator role, granted by an event in the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import click

from projections.queries import ReadModels
from services.errors import NotFound
from services.moderation import set_moderator
from tribe.bootstrap import adapters
from tribe.settings import Settings


def register(main: click.Group, storage_options: Callable[..., Any], settings_from: Callable[..., Settings]) -> None:
    """Add the `moderators` command group to the CLI."""

    @main.group("moderators")
    def moderators() -> None:
        """Who may read the reports queue and decide (besides those TRIBE_MODERATORS names)."""

    def change(username: str, granted: bool, options: dict[str, Any]) -> None:
        settings = settings_from(**options)

        async def run() -> str:
            async with adapters(settings) as (log, store, codec):
                if "handles" not in await store.aliases():
                    raise click.ClickException("the users view is not built yet: start `tribe serve` or a worker first")
                return await set_moderator(log, ReadModels(store, codec.handle_id), codec, username, granted=granted)

        try:
            user_id = asyncio.run(run())
        except NotFound:
            raise click.ClickException(f"no user named {username!r} (in the users view)") from None
        click.echo(f"{username} ({user_id}) {'is now' if granted else 'is no longer'} a moderator", err=True)

    @moderators.command("grant")
    @click.argument("username")
    @storage_options
    def grant(username: str, **options: Any) -> None:
        """Make USERNAME a moderator (an event in the log; the users view keeps it)."""
        change(username, True, options)

    @moderators.command("revoke")
    @click.argument("username")
    @storage_options
    def revoke(username: str, **options: Any) -> None:
        """Take USERNAME's moderator role back (TRIBE_MODERATORS still names whom it names)."""
        change(username, False, options)
