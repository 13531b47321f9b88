"""The store: what features need from storage (:mod:`bot.store.ports`, one Protocol per
aggregate) and the SQLite backend, the embedded default (:mod:`bot.store.sqlite`).

``store = await open_store(path)`` gives a :class:`~bot.store.ports.Store` whose attributes
are the repositories: ``store.articles``, ``store.feeds``, ``store.alerts``, ``store.digests``,
``store.platform``. SQL only one engine understands stays inside its backend; every "exactly
once" rule is a constraint or an atomic claim in the database.
"""

from bot.store.ports import Store
from bot.store.sqlite import SCHEMA_VERSION, SQLiteStore, open_store

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "Store", "open_store"]
