"""Configuration: defaults, validation naming the key, secrets only from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters import select_adapters
from adapters.base import AdapterSpec
from adapters.platforms import DISCORD, PLATFORMS, SLACK
from bot.config import (
    Secrets,
    config_from_mapping,
    default_config,
    load_config,
    option,
    secret_names,
    secrets_from_env,
)
from bot.engine import BriefingEngine
from bot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRIEFBOT_CONFIG", raising=False)
    config = load_config(None, platforms=PLATFORMS)
    assert config == default_config(platforms=PLATFORMS)
    assert config.storage.path == ""  # the default home: bot/datahome.py
    assert config.summarizer.sentences == 3


def test_example_file_matches_the_defaults() -> None:
    """config.example.toml documents every key with its default value."""
    assert load_config(REPO / "config.example.toml", platforms=PLATFORMS) == default_config(
        platforms=PLATFORMS)


def test_example_file_lists_every_key() -> None:
    import tomllib
    from dataclasses import fields

    data = tomllib.loads((REPO / "config.example.toml").read_text())
    config = default_config(platforms=PLATFORMS)
    sections = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "platforms"}
    sections.update(config.platforms)  # each platform's section, declared by its adapter
    assert set(config.platforms) == {"slack", "discord"}
    assert set(data) == set(sections)
    for name, section in sections.items():
        documented = set(data.get(name, {}))
        keys = {f.name for f in fields(section)}
        assert documented == keys, f"[{name}] differs: {documented ^ keys}"


def test_env_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[storage]\npath = "x.db"\n[summarizer]\nsentences = 5\n')
    monkeypatch.setenv("BRIEFBOT_CONFIG", str(path))
    config = load_config(None)
    assert config.storage.path == "x.db"
    assert config.summarizer.sentences == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"storage": {"paht": "x"}}, "unknown key [storage] paht (did you mean path?); known"),
        ({"storag": {}}, "unknown section [storag] (did you mean [storage]?); known"),
        ({"fetch": {"max-bytes": 1}}, "unknown key [fetch] max-bytes (did you mean max_bytes?)"),
        ({"Slack": {}}, "unknown section [Slack] (did you mean [slack]?)"),
        ({"storage": {"colour": 1}}, "unknown key [storage] colour; known keys: busy_timeout_ms"),
        ({"summarizer": {"sentences": "three"}}, "[summarizer] sentences must be an integer"),
        ({"summarizer": {"sentences": 0}}, "[summarizer] sentences must be at least 1"),
        ({"summarizer": {"sentences": True}}, "[summarizer] sentences must be an integer"),
        ({"fetch": {"allow_private_networks": "yes"}}, "[fetch] allow_private_networks must be"),
        ({"summarizer": {"algorithm": "magic"}},
         "[summarizer] algorithm 'magic' is unknown; choose"),
        ({"digest": {"default_timezone": "Mars/Olympus"}}, "[digest] default_timezone"),
        ({"slack": {"admins": "U1"}}, "[slack] admins must be a list"),
        ({"slack": {"admins": ["U1", 2]}}, "[slack] admins[1] must be a string"),
        ({"logging": {"level": "LOUD"}}, "[logging] level must be one of"),
        ({"storage": 3}, "[storage] must be a table"),
        # a key written above every [section] header
        ({"path": "x.db"}, "path = ... must be written under [storage], not at the top"),
        ({"summary_sentences": 2}, "must be written under [alerts] or [digest]"),
        ({"colour": "red"}, "unknown key colour at the top of the file"),
        # refused at load, not later (a bad language used to leave `briefbot` hanging)
        ({"summarizer": {"language": "klingon"}}, "[summarizer] language 'klingon' is not"),
        ({"storage": {"path": " "}}, "[storage] path must name a database file"),
        ({"slack": {"command": "brief"}}, "[slack] command must be the slash command's name"),
        ({"slack": {"command": "/"}}, "[slack] command must be the slash command's name"),
        # Slack's rules run at load now, not only when the adapter starts
        ({"slack": {"http_path": "slack"}}, "[slack] http_path must start with /"),
        ({"slack": {"api_base_url": "slack.com/api"}}, "[slack] api_base_url must be an http"),
        ({"slack": {"client_id": "abc"}}, "[slack] client_id looks like 'abc'"),
        ({"slack": {"command": "/brief me"}}, "[slack] command must be the slash command's"),
        ({"discord": {"shard_ids": [0]}}, "[discord] shard_ids needs shard_count"),
        ({"discord": {"shard_count": 2, "shard_ids": [2]}}, "shard_ids 2 is not a shard of 2"),
        ({"discord": {"shard_count": 2, "shard_ids": [1, 1]}}, "shard_ids names a shard twice"),
        ({"discord": {"shard_count": -1}}, "[discord] shard_count must be at least 0"),
    ],
)
def test_invalid_values_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_mapping(data, platforms=PLATFORMS)
    assert message in str(err.value)


def test_floats_accept_integers_and_lists_become_tuples() -> None:
    config = config_from_mapping({"fetch": {"timeout_seconds": 5}, "slack": {"admins": ["U1"]}},
                                 platforms=PLATFORMS)
    assert config.fetch.timeout_seconds == 5.0
    assert SLACK.section(config).admins == ("U1",)


def test_bad_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\npath=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


def test_secrets_come_from_the_environment_and_never_print() -> None:
    secrets = secrets_from_env({"SLACK_BOT_TOKEN": "xoxb-secret", "DISCORD_TOKEN": " ",
                                "HOME": "/root"}, platforms=PLATFORMS)
    assert secrets.get("SLACK_BOT_TOKEN") == "xoxb-secret"
    assert secrets.get("DISCORD_TOKEN") is None
    assert secrets.get("HOME") is None  # only what a platform declares is read
    assert "xoxb-secret" not in repr(secrets)
    assert secrets_from_env({}, platforms=PLATFORMS) == Secrets()
    assert secret_names(PLATFORMS) == ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN",
                                       "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET",
                                       "DISCORD_TOKEN")


def test_tokens_in_the_file_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_mapping({"slack": {"bot_token": "xoxb"}}, platforms=PLATFORMS)
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"discord": {"token": "abc"}}, platforms=PLATFORMS)
    assert "tokens are never read from the file; set SLACK_BOT_TOKEN" in str(err.value)
    assert "abc" not in str(err.value)  # the value is never echoed


def test_a_file_saved_with_a_bom_and_crlf_loads(tmp_path: Path) -> None:
    path = tmp_path / "windows.toml"
    path.write_bytes(b"\xef\xbb\xbf[summarizer]\r\nsentences = 2\r\n")
    assert load_config(path).summarizer.sentences == 2


# -- a platform registers itself: its section, secrets and factory, nothing in bot/ ------------

@dataclass(frozen=True, slots=True)
class MatrixConfig:
    homeserver: str = "https://matrix.example"
    rooms: tuple[str, ...] = ()
    sync_seconds: float = option(30.0, min=1, max=600)


def _check_matrix(section: MatrixConfig) -> None:
    if not section.homeserver.startswith("https://"):
        raise ConfigError(f"[matrix] homeserver must be an https:// URL, not "
                          f"{section.homeserver!r}")


class MatrixAdapter:
    platform = "matrix"

    def __init__(self, config: MatrixConfig, token: str) -> None:
        self.config, self.token = config, token

    async def deliver(self, destination: object, reply: object) -> None: ...

    async def run(self) -> None: ...


MATRIX = AdapterSpec(
    name="matrix", config=MatrixConfig, secrets=("MATRIX_TOKEN",),
    wanted=lambda section, secrets: secrets.get("MATRIX_TOKEN") is not None,
    factory=lambda engine, section, secrets: MatrixAdapter(
        section, secrets.get("MATRIX_TOKEN") or ""),
    check=_check_matrix)


def test_a_third_platform_brings_its_section_and_secrets() -> None:
    platforms = (*PLATFORMS, MATRIX)
    config = config_from_mapping({"matrix": {"rooms": ["!a:x"], "sync_seconds": 5}},
                                 platforms=platforms)
    assert MATRIX.section(config) == MatrixConfig(rooms=("!a:x",), sync_seconds=5.0)
    assert SLACK.section(config) == SLACK.config()  # the others keep their defaults
    for data, message in (
            ({"matrix": {"sync_seconds": 0}}, "[matrix] sync_seconds must be at least 1"),
            ({"matrix": {"room": []}}, "unknown key [matrix] room (did you mean rooms?)"),
            ({"matrix": {"homeserver": "http://x"}}, "[matrix] homeserver must be an https"),
            ({"matrix": {"token": "abc"}}, "or MATRIX_TOKEN in the environment"),
            ({"matrx": {}}, "unknown section [matrx] (did you mean [matrix]?)"),
            ({"sync_seconds": 3}, "must be written under [matrix]")):
        with pytest.raises(ConfigError) as err:
            config_from_mapping(data, platforms=platforms)
        assert message in str(err.value)
    # without its registration the section is unknown, as any typo would be
    with pytest.raises(ConfigError, match=r"unknown section \[matrix\]"):
        config_from_mapping({"matrix": {}}, platforms=PLATFORMS)
    secrets = secrets_from_env({"MATRIX_TOKEN": "mx"}, platforms=platforms)
    assert secrets.get("MATRIX_TOKEN") == "mx"
    assert MATRIX.configure(config, sync_seconds=9).platforms["matrix"].sync_seconds == 9


async def test_run_starts_each_platform_whose_secrets_are_set(engine: BriefingEngine) -> None:
    platforms = (*PLATFORMS, MATRIX)
    [adapter] = select_adapters(engine, Secrets({"MATRIX_TOKEN": "mx"}), platforms)
    assert isinstance(adapter, MatrixAdapter) and adapter.token == "mx"
    assert adapter.config == MATRIX.section(engine.config)
    [console] = select_adapters(engine, Secrets(), platforms)
    assert console.platform == "console"
    assert DISCORD.start(engine, Secrets()) is None
