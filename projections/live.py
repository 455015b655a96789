"""Which version of each view is live: the one its aliases point at."""

from __future__ import annotations

from projections.store import Store
from projections.views import View


def live_version(view: View, aliases: dict[str, str]) -> int | None:
    """The version the view's first alias points at, or None if the view was never installed."""
    target = aliases.get(next(iter(view.collections)))
    if target is None:
        return None
    return int(target.rsplit("_v", 1)[1])


async def install(store: Store, views: tuple[View, ...]) -> dict[str, int]:
    """Create the collections and aliases of every view not installed yet; return each live version."""
    aliases = await store.aliases()
    live: dict[str, int] = {}
    for view in views:
        version = live_version(view, aliases)
        if version is None:
            for alias, spec in view.collections.items():
                await store.ensure_collection(view.physical(alias), spec)
            await store.set_aliases(view.targets())
            version = view.version
        live[view.name] = version
    return live
