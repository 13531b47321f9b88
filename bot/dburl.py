"""Which database a setting names: a SQLite file or a PostgreSQL server.

``[storage] url``, ``BRIEFBOT_DATABASE_URL`` and ``--db`` all take the same forms:

- a path (``briefbot.db``, ``/var/lib/briefbot/db.sqlite``) or ``sqlite:///path``: SQLite;
- ``postgresql://[user[:password]@]host[:port]/database[?options]`` (also ``postgres://``):
  PostgreSQL. A socket directory goes in ``?host=/run/postgresql``.

Pure parsing with :mod:`urllib.parse`: no driver is imported here, so the config can check a
URL (and refuse a password written in the file) without PostgreSQL installed. :func:`describe`
is what logs and messages show: host, port and database, never the password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

ENV_DATABASE_URL = "BRIEFBOT_DATABASE_URL"

_PG_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """A parsed database setting. ``url`` (PostgreSQL) may hold a password: never log it."""

    kind: Literal["sqlite", "postgresql"]
    path: str = ""                              # SQLite: the file (or ":memory:")
    url: str = field(default="", repr=False)    # PostgreSQL: the URL as given
    host: str = ""
    port: int | None = None
    database: str = ""
    user: str = ""
    has_password: bool = False

    def describe(self) -> str:
        """``postgresql host:5432/briefbot`` or the SQLite path: safe to log."""
        if self.kind == "sqlite":
            return self.path
        where = self.host or "localhost"
        if self.port:
            where += f":{self.port}"
        return f"postgresql {where}/{self.database or '(default database)'}"


def is_postgres_url(value: str) -> bool:
    return value.strip().lower().startswith(tuple(f"{s}://" for s in _PG_SCHEMES))


def parse_database(value: str) -> DatabaseTarget:
    """A path or URL -> :class:`DatabaseTarget`; ValueError with a message fit to show."""
    text = value.strip()
    if not text:
        raise ValueError("a database must be a file path or a postgresql:// URL")
    lowered = text.lower()
    if lowered.startswith("sqlite://"):
        path = text[len("sqlite://"):]
        # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ValueError("sqlite:/// needs a file after it, e.g. sqlite:///briefbot.db")
        return DatabaseTarget(kind="sqlite", path=unquote(path))
    if not is_postgres_url(text):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
            scheme = text.split("://", 1)[0]
            raise ValueError(f"unknown database scheme {scheme}://; use a file path, "
                             "sqlite:///path or postgresql://host/database")
        return DatabaseTarget(kind="sqlite", path=text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"the PostgreSQL URL is malformed: {exc}") from None
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or [""])[0]
    if port is None and query.get("port"):
        try:
            port = int(query["port"][0])
        except ValueError:
            raise ValueError("the PostgreSQL URL's port must be a number") from None
    database = unquote(parts.path.lstrip("/")) or (query.get("dbname") or [""])[0]
    return DatabaseTarget(
        kind="postgresql", url=text, host=host, port=port, database=database,
        user=unquote(parts.username or "") or (query.get("user") or [""])[0],
        has_password=bool(parts.password)
        or bool(query.get("password")),
    )


__all__ = ["ENV_DATABASE_URL", "DatabaseTarget", "is_postgres_url", "parse_database"]
