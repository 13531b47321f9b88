"""The store: SQLite through aiosqlite, the embedded default.

:class:`SQLiteStore` is assembled from one query mixin per feature (``articles.py``,
``feeds.py``, ...), all sharing one connection. SQL only SQLite understands stays inside this
package; every "exactly once" rule is a constraint or an atomic claim in the database.
"""

from bot.store.sqlite import SCHEMA_VERSION, SQLiteStore, open_store

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "open_store"]
