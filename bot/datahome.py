"""Where briefbot keeps its database: one home per user, not the working directory.

The database used to be ``./briefbot.db``, so a command run from another folder silently made
an empty one. Now, first match wins:

1. ``--db PATH`` (one command);
2. ``BRIEFBOT_DB`` in the environment;
3. ``[storage] path`` in the config file;
4. ``./briefbot.db`` if one exists in the working directory (an install from before the
   change keeps working; :func:`legacy_notice` says so, once per database);
5. the platform's user data folder (``platformdirs``): ``~/.local/share/briefbot/briefbot.db``
   on Linux (``$XDG_DATA_HOME`` respected), ``~/Library/Application Support/briefbot`` on
   macOS, ``%LOCALAPPDATA%\\briefbot`` on Windows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

__all__ = ["ENV_DB", "LEGACY_NAME", "DatabaseChoice", "choose_database", "default_database_path"]

ENV_DB = "BRIEFBOT_DB"
LEGACY_NAME = "briefbot.db"


def default_database_path() -> Path:
    """The user data folder's ``briefbot.db`` (the folder is created when the store opens)."""
    return user_data_path("briefbot", appauthor=False) / LEGACY_NAME


@dataclass(frozen=True, slots=True)
class DatabaseChoice:
    path: str
    origin: str      # why this one: "--db", "BRIEFBOT_DB", "[storage] path", ...
    legacy: bool = False

    def describe(self) -> str:
        return f"{self.path} ({self.origin})"


def choose_database(*, cli_db: str | None, configured: str, config_file: str | None,
                    env: Mapping[str, str] | None = None,
                    cwd: Path | None = None) -> DatabaseChoice:
    """The database a command uses, and why (see the module docstring for the order)."""
    env = os.environ if env is None else env
    if cli_db:
        return DatabaseChoice(cli_db, "--db")
    if env.get(ENV_DB, "").strip():
        return DatabaseChoice(env[ENV_DB].strip(), ENV_DB)
    if configured:
        where = f" in {config_file}" if config_file else ""
        return DatabaseChoice(configured, f"[storage] path{where}")
    here = (cwd or Path.cwd()) / LEGACY_NAME
    if here.is_file():
        return DatabaseChoice(str(here), "found in the working directory", legacy=True)
    return DatabaseChoice(str(default_database_path()), "the default: your user data folder")


def legacy_notice(choice: DatabaseChoice) -> str:
    return (f"briefbot: using {choice.path}, found in this folder. The default database is now "
            f"{default_database_path()}, the same from every folder: move the file there, or "
            f"keep it here with `[storage] path = \"{choice.path}\"` or BRIEFBOT_DB. (Said once "
            "per database.)")
