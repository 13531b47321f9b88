"""Open the store a setting names: a SQLite file (the default) or a PostgreSQL database.

``await open_database("briefbot.db")`` or ``open_database("postgresql://host/db")``: the same
:class:`~bot.store.ports.Store` either way. The PostgreSQL backend is imported only when a
``postgresql://`` URL asks for it.
"""

from __future__ import annotations

from bot.dburl import DatabaseTarget, parse_database
from bot.errors import StoreError
from bot.store.ports import Store
from bot.store.sqlite import open_store


async def open_database(target: str | DatabaseTarget, *, busy_timeout_ms: int = 10_000,
                        pool_size: int = 10) -> Store:
    """Open (creating or migrating as needed) the database ``target`` names."""
    if isinstance(target, str):
        try:
            target = parse_database(target)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
    if target.kind == "postgresql":
        from bot.store.postgres import open_postgres_store

        return await open_postgres_store(target, pool_size=pool_size)
    return await open_store(target.path, busy_timeout_ms=busy_timeout_ms)


__all__ = ["open_database"]
