"""Issue 14 hardening: the holes an attacker found, each with the test that caught it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.router import classify
from bot.engine import BriefingEngine
from bot.ingest.fetch import address_problem
from bot.ingest.urls import canonical_url
from bot.models import ArticleDraft, Caller

SAMPLE = (Path(__file__).resolve().parent.parent / "samples"
          / "2022-05-31-us-rocket-systems-ukraine.txt")


@pytest.mark.parametrize("address", ["169.254.170.23", "fd00:ec2::23", "fd20:ce::254",
                                     "169.254.169.254", "169.254.170.2", "fd00:ec2::254"])
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_endpoints_are_never_fetched(address: str, allow_private: bool) -> None:
    ip = ipaddress.ip_address(address)
    everything = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    assert address_problem(ip, allow_private=allow_private) == "a cloud metadata address"
    assert address_problem(ip, allow_private=allow_private,
                           allowed=everything) == "a cloud metadata address"


@pytest.mark.parametrize(("url", "canonical"), [
    ("http://[2001:db8::1]/f", "http://[2001:db8::1]/f"),
    ("HTTP://[2001:DB8::1]:8080/f?utm_source=x&a=1", "http://[2001:db8::1]:8080/f?a=1"),
    ("https://[::1]:443/", "https://[::1]/"),
    ("http://Example.COM:80/a", "http://example.com/a"),
])
def test_canonical_url_keeps_ipv6_brackets(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


# -- every numeric argument is range-checked ------------------------------------------------

ADMIN = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)
HUGE = "99999999999999999999"


@pytest.mark.parametrize("text", [
    f"feeds remove {HUGE}", f"feeds remove #{HUGE}", "feeds remove 9223372036854775808",
    f"unsubscribe {HUGE}", f"alerts resume {HUGE}", f"alerts pause {HUGE}", HUGE, f"#{HUGE}",
    "feeds remove 0", "feeds remove -1", "unsubscribe 0", "#0", "digest 99:99",
    f"digest {HUGE}", f"alerts test {HUGE}",
])
async def test_numeric_arguments_out_of_range_are_user_errors(
        engine: BriefingEngine, text: str) -> None:
    reply = await engine.handle_command(text, ADMIN)
    assert "something went wrong" not in reply.text, text
    if reply.is_error:
        assert len(reply.text) < 300


@pytest.mark.parametrize(("args", "message"), [
    (["summarize", str(SAMPLE), "--sentences", HUGE], "--sentences must be at most 20"),
    (["summarize", str(SAMPLE), "-n", "21"], "--sentences must be at most 20"),
    (["summarize", "--jsonl", "-", "--workers", HUGE], "--workers must be at most 32"),
    (["summarize", "--jsonl", "-", "--workers", "33"], "--workers must be at most 32"),
])
def test_cli_numbers_are_range_checked(capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- /brief word:word is a search, not a link ------------------------------------------------

@pytest.mark.parametrize("text", ["title:rocket", "topic:ukraine", "re:rocket", "C:drive"])
def test_word_colon_word_is_searched(text: str) -> None:
    assert classify(text) == ("words", text)


@pytest.mark.parametrize("text", ["javascript:alert(1)", "file:///etc/passwd",
                                  "ftp://example.com/x", "data:text/html,hi",
                                  "https://example.com/a", "HTTP://example.com"])
def test_links_of_any_scheme_are_still_links(text: str) -> None:
    assert classify(text)[0] == "link"


async def test_brief_title_rocket_searches(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rocket systems were sent to the front on Tuesday."))
    reply = await engine.handle_command("title:rocket", ADMIN)
    assert not reply.is_error, reply.text
    assert reply.text.startswith(("Nothing found", "Briefing on"))
