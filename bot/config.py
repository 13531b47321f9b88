"""Configuration: one TOML file loaded with tomllib into frozen, validated settings.

Every key has a default, so briefbot runs with no file at all. A key the schema does not know,
a value of the wrong type or out of range raises :class:`ConfigError` naming the key
(``[fetch] max_bytes must be at least 1024``). Tokens never come from the file: they are read
from the environment by :func:`secrets_from_env`.

Each section is a frozen dataclass; a field's ``metadata`` may hold ``min``, ``max`` and
``choices`` (made with :func:`option`). Adding a key is adding a field here and a line in
``config.example.toml``. A platform's section (``[slack]``, ``[discord]``) and its secrets are
declared by its adapter (:class:`PlatformSection`, see ``adapters/base.py``), not here: the
caller passes the platforms (:data:`adapters.platforms.PLATFORMS`) to :func:`load_config`, and
``config.platforms`` holds their sections by name.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol, Union, get_args, get_origin, get_type_hints

from bot.dburl import ENV_DATABASE_URL, parse_database
from bot.errors import ConfigError, UserError
from bot.ingest.urls import check_url, parse_networks
from bot.text import check_language

ENV_CONFIG = "BRIEFBOT_CONFIG"


def option(default: Any, *, min: float | None = None, max: float | None = None,
           choices: tuple[str, ...] | None = None, any_case: bool = False) -> Any:
    """A section key with its default and bounds (checked at load, the key named)."""
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
    busy_timeout_ms: int = option(10_000, min=0, max=600_000)
    # delete articles ingested more than this many days ago, while running (0: keep all)
    keep_days: int = option(0, min=0, max=36_500)
    pool_size: int = option(10, min=1, max=200)  # PostgreSQL connections per process

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
    sentences: int = option(3, min=1, max=20)
    language: str = "auto"
    # a sentence longer than this is cut at a word boundary with an ellipsis
    max_sentence_chars: int = option(600, min=80, max=3000)
    workers: int = option(1, min=1, max=32)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    max_file_bytes: int = option(5_000_000, min=1024, max=500_000_000)
    min_text_chars: int = option(200, min=0, max=100_000)
    title_max_chars: int = option(120, min=20, max=500)


@dataclass(frozen=True, slots=True)
class BriefConfig:
    latest_count: int = option(5, min=1, max=25)
    search_results: int = option(5, min=1, max=25)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    allow_private_networks: bool = False
    # addresses or networks allowed even when private networks are not (an intranet server)
    allowed_networks: tuple[str, ...] = ()
    max_bytes: int = option(5_000_000, min=1024, max=200_000_000)
    timeout_seconds: float = option(20.0, min=0.1, max=600)
    max_redirects: int = option(5, min=0, max=20)
    user_agent: str = "briefbot/0.1 (+https://github.com/briefbot/briefbot)"
    max_connections: int = option(20, min=1, max=1000)
    max_connections_per_host: int = option(2, min=1, max=100)


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    poll_interval_minutes: float = option(30.0, min=0.1, max=10_080)
    max_backoff_minutes: float = option(720.0, min=1, max=100_000)
    backlog_items: int = option(20, min=0, max=1000)
    min_content_chars: int = option(600, min=0, max=100_000)
    urls: tuple[str, ...] = ()
    # an item whose page cannot be fetched is retried at this many polls, then given up
    item_attempts: int = option(3, min=1, max=50)
    # new items taken in per poll of one feed; the rest wait for the next poll (none is lost)
    max_items_per_poll: int = option(100, min=1, max=10_000)


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    max_per_owner: int = option(25, min=1, max=10_000)
    summary_sentences: int = option(2, min=1, max=10)
    batch_seconds: float = option(5.0, min=0, max=3600)
    max_attempts: int = option(5, min=1, max=100)
    retry_base_seconds: float = option(30.0, min=0, max=86_400)
    retry_max_seconds: float = option(3600.0, min=1, max=604_800)
    max_per_message: int = option(20, min=1, max=100)
    test_scan_limit: int = option(2000, min=10, max=1_000_000)
    # at start, articles stored this recently but never matched (a crash) are matched then
    catch_up_hours: float = option(48.0, min=0, max=24 * 30)
    # a claimed alert is due again after this if its process died while delivering it
    lease_seconds: float = option(300.0, min=10, max=86_400)


@dataclass(frozen=True, slots=True)
class DigestConfig:
    default_timezone: str = "UTC"
    max_items: int = option(10, min=1, max=100)
    grace_hours: float = option(3.0, min=0, max=24)
    empty_message: str = ""
    summary_sentences: int = option(3, min=1, max=20)
    cluster_similarity: float = option(0.3, min=0.05, max=1.0)
    max_lookback_days: float = option(7.0, min=1, max=90)
    lease_seconds: float = option(300.0, min=10, max=86_400)
    retry_seconds: float = option(60.0, min=1, max=3600)
    wake_interval_seconds: float = option(60.0, min=0.01, max=3600)
    concurrency: int = option(8, min=1, max=256)


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    # HOST:PORT of GET /healthz and GET /metrics under `briefbot run`; "" = off
    listen: str = ""
    # /healthz reports a background loop down when it has not gone round for this long
    stale_seconds: float = option(300.0, min=10, max=86_400)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = option("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), any_case=True)
    # "text": one readable line per message; "json": one JSON object a line (log collectors)
    format: str = option("text", choices=("text", "json"), any_case=True)


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
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    # each platform's section by its name ([slack] -> "slack"), built from the platforms
    # given to the loader; read it with the platform's spec (``SLACK.section(config)``)
    platforms: Mapping[str, Any] = field(default_factory=dict)


class PlatformSection(Protocol):
    """What the loader needs of a platform (an adapter's :class:`~adapters.base.AdapterSpec`):
    its ``[name]`` section's dataclass, the environment variables of its secrets and the rules
    across its keys."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> type[Any]: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...

    def check(self, section: Any, /) -> None: ...  # ConfigError naming the key


@dataclass(frozen=True, slots=True)
class Secrets:
    """Tokens by environment variable name (``SLACK_BOT_TOKEN``), from the environment only;
    never logged, never shown. Each platform declares the names it reads."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> str | None:
        return self.values.get(name) or None


def secret_names(platforms: Iterable[PlatformSection]) -> tuple[str, ...]:
    return tuple(name for p in platforms for name in p.secrets)


def secrets_from_env(env: Mapping[str, str] | None = None, *,
                     platforms: Iterable[PlatformSection]) -> Secrets:
    """The secrets ``platforms`` declare, read from ``env`` (default: the environment); a
    blank value is no value."""
    env = os.environ if env is None else env
    values = {name: env.get(name, "").strip() for name in secret_names(platforms)}
    return Secrets({name: value for name, value in values.items() if value})


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


def _build_section(name: str, cls: type[Any], raw: Any, *,
                   secrets: Sequence[str] = ()) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known and ("token" in key.lower() or "secret" in key.lower()):
            names = (f"{', '.join(secrets[:-1])} or {secrets[-1]}" if len(secrets) > 1
                     else secrets[0] if secrets else "them")
            raise ConfigError(
                f"unknown key [{name}] {key}: tokens are never read from the file; set "
                f"{names} in the environment"
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


def config_from_mapping(data: dict[str, Any], *,
                        platforms: Sequence[PlatformSection] = ()) -> Config:
    """Validate a parsed TOML document into a :class:`Config`; ``platforms`` are the
    platforms whose sections the file may hold (each gets its section, defaults if absent)."""
    hints = get_type_hints(Config)
    classes: dict[str, type[Any]] = {f.name: hints[f.name] for f in fields(Config)
                                     if f.name != "platforms"}
    by_platform = {p.name: p for p in platforms}
    classes.update((p.name, p.config) for p in platforms)
    secrets = secret_names(platforms)
    sections: dict[str, Any] = {}
    known = set(classes)
    for name, raw in data.items():
        if name not in known and not isinstance(raw, dict):
            owners = sorted(section for section, cls in classes.items()
                            if name in {f.name for f in fields(cls)})
            where = " under " + " or ".join(f"[{o}]" for o in owners)
            raise ConfigError(
                f"{name} = ... must be written{where}, not at the top of the file"
                if owners else f"unknown key {name} at the top of the file; keys belong "
                f"under a [section]: {', '.join(sorted(known))}"
            )
        if name not in known:
            raise ConfigError(f"unknown section [{name}]{_did_you_mean(name, known, '[]')}; "
                              f"known: {', '.join(sorted(known))}")
        sections[name] = _build_section(name, classes[name], raw, secrets=secrets)
    chosen = {p.name: sections.pop(p.name, None) or p.config() for p in platforms}
    config = Config(**sections, platforms=chosen)
    _check_cross(config)
    for name, section in chosen.items():
        by_platform[name].check(section)
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


def load_config(path: str | os.PathLike[str] | None = None, *,
                platforms: Sequence[PlatformSection] = ()) -> Config:
    """Load the config from ``path``, else ``$BRIEFBOT_CONFIG``, else the built-in defaults;
    ``platforms``: whose sections the file may hold (the CLI passes every platform)."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        return _from_env(config_from_mapping({}, platforms=platforms))
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # a BOM (Windows editors) is fine
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    return _from_env(config_from_mapping(data, platforms=platforms))


def _from_env(config: Config) -> Config:
    url = os.environ.get(ENV_DATABASE_URL, "").strip()
    return with_database(config, url, where=ENV_DATABASE_URL) if url else config


def default_config(*, platforms: Sequence[PlatformSection] = ()) -> Config:
    return config_from_mapping({}, platforms=platforms)


__all__ = [
    "ENV_CONFIG",
    "Config",
    "PlatformSection",
    "Secrets",
    "config_from_mapping",
    "default_config",
    "load_config",
    "option",
    "secret_names",
    "secrets_from_env",
    "with_database",
]
