"""Configuration: one TOML file loaded with tomllib into frozen, validated settings.

Every key has a default, so briefbot runs with no file at all. A key the schema does not know,
a value of the wrong type or out of range raises :class:`ConfigError` naming the key
(``[fetch] max_bytes must be at least 1024``). Tokens never come from the file: they are read
from the environment by :func:`secrets_from_env`.

Each section is a frozen dataclass; a field's ``metadata`` may hold ``min``, ``max`` and
``choices``. Adding a key is adding a field here and a line in ``config.example.toml``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from bot.dburl import ENV_DATABASE_URL, parse_database
from bot.errors import ConfigError, UserError
from bot.ingest.urls import check_url, parse_networks
from bot.text import check_language

ENV_CONFIG = "BRIEFBOT_CONFIG"


def _opt(default: Any, *, min: float | None = None, max: float | None = None,
         choices: tuple[str, ...] | None = None, any_case: bool = False) -> Any:
    return field(default=default, metadata={"min": min, "max": max, "choices": choices,
                                            "any_case": any_case})


@dataclass(frozen=True, slots=True)
class StorageConfig:
    # "" = BRIEFBOT_DB, else ./briefbot.db if one exists, else the user data folder
    # (bot/datahome.py); `--db` overrides it for one command
    path: str = ""
    # a database URL: postgresql://host/db (several processes, several hosts) or
    # sqlite:///path; wins over path. BRIEFBOT_DATABASE_URL wins over both (and may hold the
    # password, which the file may not). Never logged: repr=False.
    url: str = field(default="", repr=False)
    busy_timeout_ms: int = _opt(10_000, min=0, max=600_000)
    # delete articles ingested more than this many days ago, while running (0: keep all)
    keep_days: int = _opt(0, min=0, max=36_500)
    pool_size: int = _opt(10, min=1, max=200)  # PostgreSQL connections per process

    @property
    def database(self) -> str:
        """The database this process uses: ``url`` if set, else the SQLite ``path``."""
        return self.url or self.path


# The summarizer algorithms by name (bot.summarize implements exactly these; a test checks).
ALGORITHMS: tuple[str, ...] = (
    "lexrank", "lsa", "luhn", "textrank", "kl", "sumbasic", "edmundson", "reduction", "lead",
    "news",
)


@dataclass(frozen=True, slots=True)
class SummarizerConfig:
    algorithm: str = "news"
    sentences: int = _opt(3, min=1, max=20)
    language: str = "auto"
    # a sentence longer than this is cut at a word boundary with an ellipsis
    max_sentence_chars: int = _opt(600, min=80, max=3000)
    workers: int = _opt(1, min=1, max=32)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    max_file_bytes: int = _opt(5_000_000, min=1024, max=500_000_000)
    min_text_chars: int = _opt(200, min=0, max=100_000)
    title_max_chars: int = _opt(120, min=20, max=500)


@dataclass(frozen=True, slots=True)
class BriefConfig:
    latest_count: int = _opt(5, min=1, max=25)
    search_results: int = _opt(5, min=1, max=25)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    allow_private_networks: bool = False
    # addresses or networks allowed even when private networks are not (an intranet server)
    allowed_networks: tuple[str, ...] = ()
    max_bytes: int = _opt(5_000_000, min=1024, max=200_000_000)
    timeout_seconds: float = _opt(20.0, min=0.1, max=600)
    max_redirects: int = _opt(5, min=0, max=20)
    user_agent: str = "briefbot/0.1 (+https://github.com/briefbot/briefbot)"
    max_connections: int = _opt(20, min=1, max=1000)
    max_connections_per_host: int = _opt(2, min=1, max=100)


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    poll_interval_minutes: float = _opt(30.0, min=0.1, max=10_080)
    max_backoff_minutes: float = _opt(720.0, min=1, max=100_000)
    backlog_items: int = _opt(20, min=0, max=1000)
    min_content_chars: int = _opt(600, min=0, max=100_000)
    urls: tuple[str, ...] = ()
    # an item whose page cannot be fetched is retried at this many polls, then given up
    item_attempts: int = _opt(3, min=1, max=50)
    # new items taken in per poll of one feed; the rest wait for the next poll (none is lost)
    max_items_per_poll: int = _opt(100, min=1, max=10_000)


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    max_per_owner: int = _opt(25, min=1, max=10_000)
    summary_sentences: int = _opt(2, min=1, max=10)
    batch_seconds: float = _opt(5.0, min=0, max=3600)
    max_attempts: int = _opt(5, min=1, max=100)
    retry_base_seconds: float = _opt(30.0, min=0, max=86_400)
    retry_max_seconds: float = _opt(3600.0, min=1, max=604_800)
    max_per_message: int = _opt(20, min=1, max=100)
    test_scan_limit: int = _opt(2000, min=10, max=1_000_000)
    # at start, articles stored this recently but never matched (a crash) are matched then
    catch_up_hours: float = _opt(48.0, min=0, max=24 * 30)
    # a claimed alert is due again after this if its process died while delivering it
    lease_seconds: float = _opt(300.0, min=10, max=86_400)


@dataclass(frozen=True, slots=True)
class DigestConfig:
    default_timezone: str = "UTC"
    max_items: int = _opt(10, min=1, max=100)
    grace_hours: float = _opt(3.0, min=0, max=24)
    empty_message: str = ""
    summary_sentences: int = _opt(3, min=1, max=20)
    cluster_similarity: float = _opt(0.3, min=0.05, max=1.0)
    max_lookback_days: float = _opt(7.0, min=1, max=90)
    lease_seconds: float = _opt(300.0, min=10, max=86_400)
    retry_seconds: float = _opt(60.0, min=1, max=3600)
    wake_interval_seconds: float = _opt(60.0, min=0.01, max=3600)
    concurrency: int = _opt(8, min=1, max=256)


@dataclass(frozen=True, slots=True)
class SlackConfig:
    api_base_url: str = "https://slack.com/api/"
    admins: tuple[str, ...] = ()
    http_host: str = "0.0.0.0"
    http_port: int = _opt(3000, min=0, max=65535)
    http_path: str = "/slack/events"
    command: str = "/brief"
    post_interval_seconds: float = _opt(1.0, min=0, max=60)
    max_retries: int = _opt(3, min=0, max=20)
    admin_cache_seconds: float = _opt(300.0, min=0, max=86_400)
    # Distribution ("Add to Slack", many workspaces): set with SLACK_CLIENT_SECRET in the env
    client_id: str = ""
    redirect_url: str = ""  # https://HOST/slack/oauth_redirect; "" = the one set in the app
    oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    install_state_seconds: int = _opt(600, min=60, max=86_400)


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    guild_ids: tuple[int, ...] = ()
    manager_roles: tuple[str, ...] = ()
    # /brief answers directly when ready this fast, else defers first (Discord allows 3 s)
    defer_after_seconds: float = _opt(1.0, min=0, max=2.5)
    # pace digest/alert fan-out under Discord's global limit of 50 requests a second
    max_messages_per_second: float = _opt(25.0, min=0.5, max=50)
    send_concurrency: int = _opt(4, min=1, max=50)
    # shards (Discord requires them past 2,500 guilds): 0 = one gateway session. With N, this
    # process runs the shards in shard_ids (every one of the N when empty) through
    # discord.py's AutoShardedClient; several processes can each run a part of them.
    shard_count: int = _opt(0, min=0, max=1_000_000)
    shard_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    # HOST:PORT of GET /healthz and GET /metrics under `briefbot run`; "" = off
    listen: str = ""
    # /healthz reports a background loop down when it has not gone round for this long
    stale_seconds: float = _opt(300.0, min=10, max=86_400)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = _opt("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), any_case=True)
    # "text": one readable line per message; "json": one JSON object a line (log collectors)
    format: str = _opt("text", choices=("text", "json"), any_case=True)


@dataclass(frozen=True, slots=True)
class Config:
    storage: StorageConfig = field(default_factory=StorageConfig)
    summarizer: SummarizerConfig = field(default_factory=SummarizerConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    brief: BriefConfig = field(default_factory=BriefConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)


@dataclass(frozen=True, slots=True)
class Secrets:
    """Tokens, from the environment only; never logged, never shown."""

    slack_bot_token: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_client_secret: str | None = field(default=None, repr=False)
    discord_token: str | None = field(default=None, repr=False)


def secrets_from_env(env: dict[str, str] | None = None) -> Secrets:
    env = dict(os.environ) if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    return Secrets(
        slack_bot_token=get("SLACK_BOT_TOKEN"),
        slack_app_token=get("SLACK_APP_TOKEN"),
        slack_signing_secret=get("SLACK_SIGNING_SECRET"),
        slack_client_secret=get("SLACK_CLIENT_SECRET"),
        discord_token=get("DISCORD_TOKEN"),
    )


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _check_value(key: str, value: Any, tp: Any, meta: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        return _check_value(key, value, options[0], meta)
    if origin is tuple:
        item_tp = get_args(tp)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list")
        return tuple(_check_value(f"{key}[{i}]", v, item_tp, {}) for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp in (int, float):
        ok = isinstance(value, tp) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise ConfigError(
            f"{key} must be {_TYPE_NAMES.get(tp, tp.__name__)}, not {type(value).__name__}"
            f" ({value!r})"
        )
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if lo is not None and value < lo:
        raise ConfigError(f"{key} must be at least {lo}, not {value}")
    if hi is not None and value > hi:
        raise ConfigError(f"{key} must be at most {hi}, not {value}")
    if choices and meta.get("any_case"):  # level = "info" is INFO
        value = {c.lower(): c for c in choices}.get(value.lower(), value)
    if choices and value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _did_you_mean(word: str, known: Iterable[str], brackets: str = "") -> str:
    """" (did you mean max_bytes?)" for a typo, a dash for an underscore or a wrong case."""
    by_form = {k.lower(): k for k in known}
    form = word.lower().replace("-", "_").replace(" ", "_")
    close = [by_form[form]] if form in by_form else difflib.get_close_matches(
        form, list(by_form), n=1, cutoff=0.75)
    if not close:
        return ""
    shown = f"{brackets[:1]}{by_form.get(close[0], close[0])}{brackets[1:]}"
    return f" (did you mean {shown}?)"


def _build_section(name: str, cls: type[Any], raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known and ("token" in key.lower() or "secret" in key.lower()):
            raise ConfigError(
                f"unknown key [{name}] {key}: tokens are never read from the file; set "
                "SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, SLACK_CLIENT_SECRET or "
                "DISCORD_TOKEN in the environment"
            )
        if key not in known:
            raise ConfigError(
                f"unknown key [{name}] {key}{_did_you_mean(key, known)}; known keys: "
                f"{', '.join(sorted(known))}"
            )
    values = {
        key: _check_value(f"[{name}] {key}", value, hints[key], known[key].metadata)
        for key, value in raw.items()
    }
    return cls(**values)


def config_from_mapping(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a :class:`Config`."""
    hints = get_type_hints(Config)
    sections: dict[str, Any] = {}
    known = {f.name for f in fields(Config)}
    for name, raw in data.items():
        if name not in known and not isinstance(raw, dict):
            owners = sorted(s.name for s in fields(Config)
                            if name in {f.name for f in fields(hints[s.name])})
            where = " under " + " or ".join(f"[{o}]" for o in owners)
            raise ConfigError(
                f"{name} = ... must be written{where}, not at the top of the file"
                if owners else f"unknown key {name} at the top of the file; keys belong "
                f"under a [section]: {', '.join(sorted(known))}"
            )
        if name not in known:
            raise ConfigError(f"unknown section [{name}]{_did_you_mean(name, known, '[]')}; "
                              f"known: {', '.join(sorted(known))}")
        sections[name] = _build_section(name, hints[name], raw)
    config = Config(**sections)
    _check_cross(config)
    return config


def _check_cross(config: Config) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    typed = config.digest.default_timezone
    try:
        ZoneInfo(typed)
        advice_wanted = typed.lower() in {"localtime", "factory"}
    except (ZoneInfoNotFoundError, ValueError):
        advice_wanted = True
    if advice_wanted:
        from bot.zones import advise_zone

        advice = advise_zone(typed)
        offers = [advice.zone] if advice.zone and advice.zone != typed else []
        offers += [s for s in advice.suggestions if s not in offers]
        hint = f" (did you mean {' or '.join(offers[:3])}?)" if offers else ""
        raise ConfigError(
            f"[digest] default_timezone {typed!r} is not an IANA time zone{hint}; write one "
            "such as Europe/Berlin, America/New_York or UTC"
        )
    parse_networks(config.fetch.allowed_networks)
    for i, url in enumerate(config.feeds.urls):
        try:
            check_url(url)
        except UserError as exc:
            raise ConfigError(f"[feeds] urls[{i}] {url!r}: {exc}") from exc
    if config.summarizer.algorithm not in ALGORITHMS:
        typed = config.summarizer.algorithm
        raise ConfigError(
            f"[summarizer] algorithm {typed!r} is unknown{_did_you_mean(typed, ALGORITHMS)}; "
            f"choose one of {', '.join(ALGORITHMS)}"
        )
    try:
        check_language(config.summarizer.language)
    except UserError as exc:
        raise ConfigError(f"[summarizer] {exc}") from exc
    listen = config.monitoring.listen.strip()
    if listen and not re.fullmatch(r"(?:\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}", listen):
        raise ConfigError(f'[monitoring] listen must be HOST:PORT, e.g. "127.0.0.1:9464", not '
                          f"{listen!r}")
    if config.storage.path and not config.storage.path.strip():
        raise ConfigError('[storage] path must name a database file, e.g. "briefbot.db"')
    _check_storage_url(config.storage.url)
    _check_shards(config.discord.shard_count, config.discord.shard_ids)
    if not config.slack.command.startswith("/") or len(config.slack.command) < 2:
        raise ConfigError(
            f"[slack] command must be the slash command's name with its /, e.g. \"/brief\", "
            f"not {config.slack.command!r}"
        )


def _check_shards(count: int, ids: tuple[int, ...]) -> None:
    if ids and not count:
        raise ConfigError("[discord] shard_ids needs shard_count (how many shards the bot has "
                          "in all, across every process)")
    bad = [i for i in ids if not 0 <= i < count]
    if bad:
        raise ConfigError(f"[discord] shard_ids {bad[0]} is not a shard of {count}: shard ids "
                          f"go from 0 to {count - 1}")
    if len(set(ids)) != len(ids):
        raise ConfigError("[discord] shard_ids names a shard twice")


def _check_storage_url(url: str, *, where: str = "[storage] url") -> None:
    """A database URL must parse; only the environment may hold its password."""
    if not url:
        return
    try:
        target = parse_database(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if target.has_password and where != ENV_DATABASE_URL:
        raise ConfigError(
            f"{where} holds a password: passwords are never read from the file or the "
            f"command line; set {ENV_DATABASE_URL} in the environment (or PGPASSWORD, or "
            "use ~/.pgpass)"
        )


def with_database(config: Config, database: str, *, where: str = "--db") -> Config:
    """``config`` using ``database`` (a path or URL, from ``--db`` or the environment)."""
    _check_storage_url(database, where=where)
    return replace(config, storage=replace(config.storage, url=database))


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config from ``path``, else ``$BRIEFBOT_CONFIG``, else the built-in defaults."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        return _from_env(config_from_mapping({}))
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # a BOM (Windows editors) is fine
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    return _from_env(config_from_mapping(data))


def _from_env(config: Config) -> Config:
    url = os.environ.get(ENV_DATABASE_URL, "").strip()
    return with_database(config, url, where=ENV_DATABASE_URL) if url else config


def default_config() -> Config:
    return config_from_mapping({})


__all__ = [
    "ENV_CONFIG",
    "Config",
    "Secrets",
    "config_from_mapping",
    "default_config",
    "load_config",
    "secrets_from_env",
    "with_database",
]
