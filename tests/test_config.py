"""Configuration: defaults, validation naming the key, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Secrets, config_from_mapping, default_config, load_config, secrets_from_env
from bot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRIEFBOT_CONFIG", raising=False)
    config = load_config(None)
    assert config == default_config()
    assert config.storage.path == ""  # the default home: bot/datahome.py
    assert config.summarizer.sentences == 3


def test_example_file_matches_the_defaults() -> None:
    """config.example.toml documents every key with its default value."""
    assert load_config(REPO / "config.example.toml") == default_config()


def test_example_file_lists_every_key() -> None:
    import tomllib
    from dataclasses import fields

    data = tomllib.loads((REPO / "config.example.toml").read_text())
    config = default_config()
    for section in fields(config):
        documented = set(data.get(section.name, {}))
        keys = {f.name for f in fields(getattr(config, section.name))}
        assert documented == keys, f"[{section.name}] differs: {documented ^ keys}"


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
    ],
)
def test_invalid_values_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_mapping(data)
    assert message in str(err.value)


def test_floats_accept_integers_and_lists_become_tuples() -> None:
    config = config_from_mapping({"fetch": {"timeout_seconds": 5}, "slack": {"admins": ["U1"]}})
    assert config.fetch.timeout_seconds == 5.0
    assert config.slack.admins == ("U1",)


def test_bad_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\npath=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


def test_secrets_come_from_the_environment_and_never_print() -> None:
    secrets = secrets_from_env({"SLACK_BOT_TOKEN": "xoxb-secret", "DISCORD_TOKEN": " "})
    assert secrets.slack_bot_token == "xoxb-secret"
    assert secrets.discord_token is None
    assert "xoxb-secret" not in repr(secrets)
    assert secrets_from_env({}) == Secrets()


def test_tokens_in_the_file_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_mapping({"slack": {"bot_token": "xoxb"}})
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"discord": {"token": "abc"}})
    assert "tokens are never read from the file; set SLACK_BOT_TOKEN" in str(err.value)
    assert "abc" not in str(err.value)  # the value is never echoed


def test_a_file_saved_with_a_bom_and_crlf_loads(tmp_path: Path) -> None:
    path = tmp_path / "windows.toml"
    path.write_bytes(b"\xef\xbb\xbf[summarizer]\r\nsentences = 2\r\n")
    assert load_config(path).summarizer.sentences == 2
