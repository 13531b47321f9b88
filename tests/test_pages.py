"""``/brief <link>`` end to end against a real aiohttp server on 127.0.0.1: fetch, extract,
store, answer; known links from the store at once; teasers, short pages, bad schemes, private
addresses and non-UTF-8 pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from intake_server import Entry, LocalWeb, article_text, html_page, rss

from bot.config import Config
from bot.engine import BriefingEngine
from bot.ingest.pages import canonical_link, decode_html
from bot.models import Caller, ReplyKind

CALLER = Caller(platform="slack", user_id="U1", channel_id="C1")
RUSSIAN = ("Правительство объявило о новой программе строительства дорог в северных регионах. "
           "Эксперты считают, что проект потребует значительных инвестиций в ближайшие годы. "
           "Местные жители надеются, что новые дороги улучшат доступ к больницам и школам. "
           "Министерство транспорта обещает опубликовать подробный план весной.")


@pytest.fixture
async def server() -> AsyncIterator[LocalWeb]:
    web_ = LocalWeb()
    await web_.start()
    yield web_
    await web_.stop()


async def brief(engine: BriefingEngine, text: str) -> Any:
    return await engine.handle_command(text, CALLER)


async def test_link_is_fetched_stored_and_answered(engine: BriefingEngine,
                                                   server: LocalWeb) -> None:
    server.serve("/story", html_page("Dam opens", article_text("dam"),
                                     canonical=server.url("/story?utm_medium=x")))
    reply = await brief(engine, f"{server.url('/story')}?utm_source=chat")
    assert reply.kind is ReplyKind.ANSWER, reply.text
    assert reply.text.startswith("Fetched, summarised and stored as article #1")
    [item] = reply.items
    assert item.title == "Dam opens" and item.summary and item.url == server.url("/story")
    # asked again (any tracking variant, Slack's <url> form): from the store, no fetch
    again = await brief(engine, f"<{server.url('/story')}?fbclid=abc|story>")
    assert again.text.startswith("Already stored as article #1")
    assert len(server.hits("/story?utm_source=chat")) == 1
    assert len(server.requests) == 1
    assert await engine.store.articles.count_articles() == 1


@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", "file:///etc/passwd",
                                  "ftp://example.org/x"])
async def test_bad_schemes(engine: BriefingEngine, link: str) -> None:
    reply = await brief(engine, link)
    assert reply.kind is ReplyKind.ERROR and "Only http and https" in reply.text


async def test_paywall_teaser_and_short_page_are_refused(engine: BriefingEngine,
                                                         server: LocalWeb) -> None:
    ld = ('<script type="application/ld+json">{"@type": "NewsArticle", '
          '"isAccessibleForFree": "False", "hasPart": {"isAccessibleForFree": false}}</script>')
    server.serve("/locked", html_page("Locked", article_text("locked", sentences=3),
                                      extra_head=ld))
    server.serve("/cookies", html_page("Cookies", "We use cookies. Accept all?"))
    reply = await brief(engine, server.url("/locked"))
    assert reply.is_error and "only a teaser" in reply.text
    reply = await brief(engine, server.url("/cookies"))
    assert reply.is_error and "characters of article text" in reply.text
    assert "[ingest] min_text_chars" in reply.text
    assert await engine.store.articles.count_articles() == 0


async def test_fetch_errors_become_one_line_replies(engine: BriefingEngine,
                                                    server: LocalWeb) -> None:
    server.serve("/missing", "no", status=404)
    server.serve("/doc.pdf", b"%PDF-1.4", content_type="application/pdf")
    reply = await brief(engine, server.url("/missing"))
    assert reply.is_error and reply.text == "127.0.0.1 answered 404 Not Found."
    reply = await brief(engine, server.url("/doc.pdf"))
    assert reply.is_error and "pdf file, not a web page" in reply.text


async def test_private_addresses_refused_by_default(make_engine: Callable[..., Any],
                                                    config: Config, server: LocalWeb) -> None:
    strict: BriefingEngine = await make_engine(
        replace(config, fetch=replace(config.fetch, allow_private_networks=False)))
    server.serve("/admin", html_page("Admin", article_text("secret")))
    for link in (server.url("/admin"), f"http://localhost:{server.port}/admin"):
        reply = await strict.handle_command(link, CALLER)
        assert reply.is_error and "briefbot only fetches public addresses" in reply.text
        assert "allowed_networks" in reply.text  # how to let one private server in
    metadata = await strict.handle_command("http://169.254.169.254/latest/meta-data/", CALLER)
    assert metadata.is_error and "never fetches those, whatever the configuration" in (
        metadata.text)
    assert server.requests == []


async def test_non_utf8_pages_are_decoded(engine: BriefingEngine, server: LocalWeb) -> None:
    body = html_page("Дороги", RUSSIAN, charset="windows-1251").encode("cp1251")
    server.serve("/ru-header", body, content_type="text/html; charset=windows-1251")
    meta_only = html_page("Дороги на севере", RUSSIAN + " Второй абзац.", charset="koi8-r")
    server.serve("/ru-meta", meta_only.encode("koi8_r"), content_type="text/html")
    reply = await brief(engine, server.url("/ru-header"))
    assert not reply.is_error, reply.text
    article = await engine.store.articles.get_article(reply.items[0].article_id or 0)
    assert article is not None and "строительства дорог" in article.text
    reply = await brief(engine, server.url("/ru-meta"))
    assert not reply.is_error, reply.text
    assert reply.items[0].title == "Дороги на севере"


def test_decode_html_order() -> None:
    text = "<p>café</p>"
    assert decode_html(text.encode("cp1252"), charset="iso-8859-1") == text
    assert decode_html(b"\xef\xbb\xbf" + text.encode(), charset="cp1252") == text  # BOM wins
    assert decode_html(text.encode("utf-8"), charset=None) == text
    assert decode_html(b'<meta charset="cp1252">' + text.encode("cp1252"), charset=None) \
        .endswith(text)
    assert decode_html(text.encode("utf-8"), charset="no-such-codec") == text


def test_canonical_link_only_within_the_site() -> None:
    import lxml.html

    def canon(href: str, page: str = "https://www.news.example/a?x=1") -> str | None:
        tree = lxml.html.document_fromstring(f'<html><head><link rel="canonical" href="{href}">'
                                             "</head><body>x</body></html>")
        return canonical_link(tree, page_url=page)

    assert canon("/story/1") == "https://www.news.example/story/1"
    assert canon("https://amp.news.example/story/1") == "https://amp.news.example/story/1"
    assert canon("https://other.example/story/1") is None   # no claiming others' articles
    assert canon("javascript:alert(1)") is None
    assert canon("http://[::1") is None and canon("https://www.news.example:x/1") is None
    assert canon("https://bbc.co.uk/x", page="https://www.bbc.co.uk/y") == "https://bbc.co.uk/x"
    assert canon("https://evil.co.uk/x", page="https://www.bbc.co.uk/y") is None


async def test_plain_text_pages_in_their_declared_charset(engine: BriefingEngine,
                                                          server: LocalWeb) -> None:
    server.serve("/ru.txt", ("Дороги\n\n" + RUSSIAN).encode("koi8_r"),
                 content_type="text/plain; charset=koi8-r")
    server.serve("/wide.txt", ("Дороги\n\n" + RUSSIAN).encode("utf-16"),
                 content_type="text/plain")
    server.serve("/bin.txt", b"\x00\x01\x02binary" * 50, content_type="text/plain")
    for path in ("/ru.txt", "/wide.txt"):
        reply = await brief(engine, server.url(path))
        assert not reply.is_error, reply.text
        article = await engine.store.articles.get_article(reply.items[0].article_id or 0)
        assert article is not None and "строительства дорог" in article.text, path
    reply = await brief(engine, server.url("/bin.txt"))
    assert reply.is_error and "binary" in reply.text


async def test_a_hostile_media_type_is_not_echoed(engine: BriefingEngine,
                                                  server: LocalWeb) -> None:
    server.serve("/odd", b"x" * 300, content_type="application/<!channel>@everyone*bold*")
    reply = await brief(engine, server.url("/odd"))
    assert reply.is_error and "not a web page" in reply.text
    assert not any(c in reply.text for c in "<>@*!"), reply.text


async def test_mislabelled_feeds_and_pages_are_recognised(engine: BriefingEngine,
                                                          server: LocalWeb) -> None:
    feed = rss([Entry(title="One", link=server.url("/one"), text=article_text("one"))])
    for path, kind in (("/feed.txt", "text/plain"), ("/feed.html", "text/html"),
                       ("/feed.bin", "application/octet-stream")):
        server.serve(path, feed, content_type=kind)
        reply = await brief(engine, server.url(path))
        assert reply.is_error and "RSS or Atom feed" in reply.text, (path, reply.text)
    for n, (path, kind) in enumerate((("/page.txt", "text/plain"),
                                      ("/page.bin", "application/octet-stream"))):
        server.serve(path, html_page(f"Dam opens {n}", article_text(f"dam{n}")),
                     content_type=kind)
        reply = await brief(engine, server.url(path))
        assert not reply.is_error, reply.text
        assert reply.items[0].title == f"Dam opens {n}"
        article = await engine.store.articles.get_article(reply.items[0].article_id or 0)
        assert article is not None and "<" not in article.text
    assert await engine.store.articles.count_articles() == 2


COOKIE_WALL = (
    "<html><head><title>News site</title></head><body><div class='consent'>"
    "<h2>We value your privacy</h2><p>We and our 842 partners store and/or access information "
    "on a device, such as cookies, and process personal data, such as unique identifiers and "
    "standard information sent by a device for personalised ads and content, ad and content "
    "measurement, and audience insights, as well as to develop and improve products.</p><p>With "
    "your permission we and our partners may use precise geolocation data. You may click to "
    "consent to our and our partners' processing as described above. Alternatively you may "
    "change your preferences before consenting or refuse consenting.</p>"
    "<button>Accept all</button><button>Reject all</button></div></body></html>"
)
BOT_CHECK = (
    "<html><head><title>Just a moment...</title></head><body><h1>Checking your browser before "
    "accessing news.example.</h1><p>This process is automatic. Your browser will redirect to "
    "your requested content shortly. Please allow up to 5 seconds. Please enable cookies and "
    "reload the page. Performance and security by a CDN. Ray ID: 7a1b2c3d4e5f. Why do I have "
    "to complete a CAPTCHA? Completing the CAPTCHA proves you are a human and gives you "
    "temporary access to the web property.</p></body></html>"
)


async def test_cookie_walls_and_bot_checks_are_refused_not_summarised(
        engine: BriefingEngine, server: LocalWeb) -> None:
    server.serve("/consent", COOKIE_WALL)
    server.serve("/check", BOT_CHECK)
    story = ("The French regulator ruled on Tuesday that websites must show a button labelled "
             "reject all next to the accept all button. The decision follows complaints from "
             "consumer groups. Companies have three months to comply, the regulator said, or "
             "face fines. Industry groups said they would appeal the decision in court.")
    server.serve("/story", html_page("Regulator rules on cookie banners", story))
    reply = await brief(engine, server.url("/consent"))
    assert reply.is_error and "cookie-consent banner instead of an article" in reply.text
    reply = await brief(engine, server.url("/check"))
    assert reply.is_error and "bot check" in reply.text
    reply = await brief(engine, server.url("/story"))  # a story about banners is a story
    assert not reply.is_error, reply.text
    assert await engine.store.articles.count_articles() == 1


@pytest.mark.parametrize("label", ["rot13", "base64", "idna", "utf-7", "unicode_escape",
                                   "undefined"])
async def test_a_charset_label_no_browser_would_use_is_ignored(
        engine: BriefingEngine, server: LocalWeb, label: str) -> None:
    server.serve("/odd", html_page("Café opens", article_text("cafe")).encode(),
                 content_type=f"text/html; charset={label}")
    server.serve("/meta", html_page("Café opens", article_text("meta"), charset=label).encode(),
                 content_type="text/html")
    for path in ("/odd", "/meta"):
        reply = await brief(engine, server.url(path))
        assert not reply.is_error, (path, reply.text)
        assert reply.items[0].title == "Café opens"


async def test_summarize_a_link_from_the_command_line(
    server: LocalWeb, config: Config, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`briefbot summarize URL` fetches the page with the same safety rules and stores
    nothing."""
    import asyncio

    from bot.cli import main

    server.serve("/story", html_page("Council passes budget", article_text("budget")))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[fetch]\nallow_private_networks = true\n"
                   f'[storage]\npath = "{tmp_path / "never.db"}"\n')
    code = await asyncio.to_thread(main, ["--config", str(cfg), "summarize", "-n", "2",
                                          server.url("/story")])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.strip().splitlines()
    assert len(lines) == 2 and all("budget" in line.lower() for line in lines)
    assert not (tmp_path / "never.db").exists()
    # a private address is refused by default, one line, exit 2
    strict = tmp_path / "strict.toml"
    strict.write_text("")
    code = await asyncio.to_thread(main, ["--config", str(strict), "summarize",
                                          server.url("/story")])
    err = capsys.readouterr().err
    assert code == 2 and "Refused to fetch" in err and len(err.strip().splitlines()) == 1
