"""Slack's ``[slack]`` section, its secrets and when ``briefbot run`` starts it.

Light on purpose (no slack_bolt / slack_sdk import): the config loader reads it at every start
through :data:`adapters.platforms.SLACK`. The adapter itself is :mod:`adapters.slack_adapter`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.config import Secrets, option
from bot.errors import ConfigError

log = logging.getLogger(__name__)

BOT_TOKEN = "SLACK_BOT_TOKEN"
APP_TOKEN = "SLACK_APP_TOKEN"
SIGNING_SECRET = "SLACK_SIGNING_SECRET"
CLIENT_SECRET = "SLACK_CLIENT_SECRET"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, CLIENT_SECRET)


@dataclass(frozen=True, slots=True)
class SlackConfig:
    api_base_url: str = "https://slack.com/api/"
    admins: tuple[str, ...] = ()
    http_host: str = "0.0.0.0"
    http_port: int = option(3000, min=0, max=65535)
    http_path: str = "/slack/events"
    command: str = "/brief"
    post_interval_seconds: float = option(1.0, min=0, max=60)
    max_retries: int = option(3, min=0, max=20)
    admin_cache_seconds: float = option(300.0, min=0, max=86_400)
    # Distribution ("Add to Slack", many workspaces): set with SLACK_CLIENT_SECRET in the env
    client_id: str = ""
    redirect_url: str = ""  # https://HOST/slack/oauth_redirect; "" = the one set in the app
    oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    install_state_seconds: int = option(600, min=60, max=86_400)


def check(config: SlackConfig) -> None:
    """The rules across [slack] keys: at load, and again when an adapter is built."""
    if not config.api_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"[slack] api_base_url must be an http(s) URL, not "
                          f"{config.api_base_url!r}")
    command = config.command
    if not command.startswith("/") or len(command) < 2 or " " in command:
        raise ConfigError(
            f"[slack] command must be the slash command's name with its /, e.g. \"/brief\", "
            f"not {command!r}"
        )
    if not config.http_path.startswith("/"):
        raise ConfigError(f"[slack] http_path must start with /, not {config.http_path!r}")
    if not config.client_id:
        return
    if not re.fullmatch(r"[0-9]+\.[0-9]+", config.client_id.strip()):
        raise ConfigError(f"[slack] client_id looks like {config.client_id!r}, not a Client ID "
                          "(digits.digits, from Basic Information > App Credentials)")
    for key, url in (("redirect_url", config.redirect_url),
                     ("oauth_authorize_url", config.oauth_authorize_url)):
        if url and not url.startswith(("https://", "http://")):
            raise ConfigError(f"[slack] {key} must be an https URL, not {url!r}")
    if config.redirect_url and not config.redirect_url.rstrip("/").endswith(
            "/slack/oauth_redirect"):
        raise ConfigError(f"[slack] redirect_url must end with /slack/oauth_redirect (where "
                          f"briefbot answers Slack), not {config.redirect_url!r}")


def wanted(config: SlackConfig, secrets: Secrets) -> bool:
    """One workspace (a bot token) or many (``client_id``); a stray token alone is said."""
    if secrets.get(BOT_TOKEN) or config.client_id:
        return True
    stray = [name for name in (APP_TOKEN, SIGNING_SECRET) if secrets.get(name)]
    if stray:
        log.warning("%s set but SLACK_BOT_TOKEN is not: Slack is not started (set "
                    "SLACK_BOT_TOKEN to the app's Bot User OAuth Token, xoxb-...)",
                    " and ".join(stray) + (" is" if len(stray) == 1 else " are"))
    return False
