"""slack_sdk's installation store and OAuth state store, kept in briefbot's database.

Why it exists: bolt's OAuth flow ("Add to Slack") saves each workspace's installation through
slack_sdk's :class:`AsyncInstallationStore` and checks the ``state`` of the install link through
an :class:`AsyncOAuthStateStore`. slack_sdk ships file and sqlite3 stores; these two put the same
data in briefbot's own store instead (``store.platform``: tables ``installations`` and
``oauth_states``, migration 0009), so every process using the database sees every
installation, and a PostgreSQL store works the same. The installation is kept as slack_sdk's
own dict (JSON): nothing of its meaning is re-invented here. Bot-scope installations only
(briefbot asks for no user scopes).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.store.ports import PlatformStateStore

log = logging.getLogger(__name__)

PLATFORM = "slack"

__all__ = ["BriefbotInstallationStore", "BriefbotStateStore"]


def _plain(value: Any) -> Any:
    """JSON for slack_sdk's dict: its datetimes become epoch seconds (which it accepts back)."""
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _key(enterprise_id: str | None, team_id: str | None,
         is_enterprise_install: bool | None) -> tuple[str | None, str | None]:
    # An org-wide install serves every workspace of the organisation: keyed by the org alone.
    return (enterprise_id, None) if is_enterprise_install else (enterprise_id, team_id)


class BriefbotInstallationStore(AsyncInstallationStore):
    """One installation per workspace (or org-wide install); a reinstall replaces it."""

    def __init__(self, repo: PlatformStateStore, *, clock: Callable[[], datetime],
                 logger: logging.Logger | None = None) -> None:
        self._repo = repo
        self._clock = clock
        self._logger = logger or log

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def async_save(self, installation: Installation) -> None:
        enterprise_id, team_id = _key(installation.enterprise_id, installation.team_id,
                                      installation.is_enterprise_install)
        data = json.dumps({k: _plain(v) for k, v in installation.to_dict().items()})
        new = await self._repo.save_installation(platform=PLATFORM, enterprise_id=enterprise_id,
                                                 team_id=team_id, data=data, now=self._clock())
        self._logger.info("Slack: %s installation of team %s (enterprise %s) by user %s",
                          "new" if new else "updated", installation.team_id,
                          installation.enterprise_id or "-", installation.user_id)

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("briefbot saves whole installations (async_save)")

    async def async_find_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        enterprise_id, team_id = _key(enterprise_id, team_id, is_enterprise_install)
        data = await self._repo.find_installation(platform=PLATFORM,
                                                  enterprise_id=enterprise_id, team_id=team_id)
        if data is None:
            return None
        values = json.loads(data)
        if user_id is not None and values.get("user_id") != user_id:
            return None  # no user tokens are kept: only the installer's record exists
        return Installation(**values)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id,
            is_enterprise_install=is_enterprise_install)
        if installation is None or installation.bot_token is None:
            return None
        return installation.to_bot()

    async def async_delete_bot(self, *, enterprise_id: str | None,
                               team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None,
                                        team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is not None:
            return  # no per-user installations are kept
        deleted = await self._repo.delete_installation(
            platform=PLATFORM, enterprise_id=enterprise_id, team_id=team_id)
        if not deleted and enterprise_id is not None:  # an org-wide install
            deleted = await self._repo.delete_installation(
                platform=PLATFORM, enterprise_id=enterprise_id, team_id=None)
        if deleted:
            self._logger.info("Slack: removed the installation of team %s (enterprise %s)",
                              team_id, enterprise_id or "-")

    async def async_delete_all(self, *, enterprise_id: str | None,
                               team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class BriefbotStateStore(AsyncOAuthStateStore):
    """A random ``state`` per install link, accepted once and only before it expires."""

    def __init__(self, repo: PlatformStateStore, *, clock: Callable[[], datetime],
                 expiration_seconds: int, logger: logging.Logger | None = None) -> None:
        self._repo = repo
        self._clock = clock
        self.expiration_seconds = expiration_seconds
        self._logger = logger or log

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        now = self._clock()
        await self._repo.issue_oauth_state(
            state, expires_at=now + timedelta(seconds=self.expiration_seconds), now=now)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        return await self._repo.consume_oauth_state(state, now=self._clock())
