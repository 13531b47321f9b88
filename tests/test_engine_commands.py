"""The /brief grammar and the ingest use case, on a real engine over a real SQLite file."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import app_of

from bot.commands import core
from bot.commands.router import Commands, Context
from bot.config import BriefConfig
from bot.engine import BriefingEngine
from bot.errors import InputError
from bot.models import Article, ArticleDraft, Caller, Reply, ReplyKind

CALLER = Caller(platform="console", user_id="U1", channel_id="C1")


async def test_empty_store_explains_how_to_add_articles(engine: BriefingEngine) -> None:
    reply = await engine.handle_command("", CALLER)
    assert "Nothing is stored yet" in reply.text
    assert reply.items == ()


async def test_ingest_once_then_brief(engine: BriefingEngine, sample_path: Path) -> None:
    first = await engine.ingest_file(sample_path)
    second = await engine.ingest_file(sample_path)
    assert first.created and not second.created
    assert second.article.id == first.article.id
    assert await engine.store.articles.count_articles() == 1

    article = first.article
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == "2022-05-31"
    assert "date" not in article.title.lower()[:6] and "2022" not in article.title
    assert len(article.summary) == 3
    assert all("2022-05-31" not in s for s in article.summary)

    latest = await engine.handle_command("", CALLER)
    assert [i.article_id for i in latest.items] == [article.id]
    assert latest.items[0].summary == article.summary

    topic = await engine.handle_command("Severodonetsk", CALLER)
    assert [i.article_id for i in topic.items] == [article.id]

    one = await engine.handle_command(f"#{article.id}", CALLER)
    assert one.items[0].title == article.title


async def test_same_text_with_other_spacing_is_the_same_article(engine: BriefingEngine) -> None:
    a = await engine.ingest(ArticleDraft(text="Rockets were sent. Officials confirmed it."))
    b = await engine.ingest(ArticleDraft(text="  ROCKETS were sent.\nOfficials confirmed it!  "))
    assert a.created and not b.created


async def test_same_url_with_tracking_parameters_is_the_same_article(
    engine: BriefingEngine,
) -> None:
    a = await engine.ingest(ArticleDraft(text="First text.", url="https://news.example/a?id=1"))
    b = await engine.ingest(ArticleDraft(
        text="Edited text.", url="https://NEWS.example/a?utm_source=x&id=1#top"))
    assert a.created and not b.created


async def test_listeners_hear_each_new_article_once(engine: BriefingEngine) -> None:
    heard: list[int] = []

    async def listener(article: Article) -> None:
        heard.append(article.id)

    engine.on_new_article(listener)
    r1 = await engine.ingest(ArticleDraft(text="Alpha happened today."))
    await engine.ingest(ArticleDraft(text="Alpha happened today."))
    await engine.ingest(ArticleDraft(text="Backlog item."), notify=False)
    assert heard == [r1.article.id]


async def test_unknown_number_and_nothing_found(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Fighting continued in Severodonetsk on Tuesday."))
    missing = await engine.handle_command("999", CALLER)
    assert missing.kind is ReplyKind.ERROR and "no article #999" in missing.text
    typo = await engine.handle_command("Severodonetks", CALLER)
    assert "Nothing found for “Severodonetks”" in typo.text
    assert "Did you mean: Severodonetsk?" in typo.text  # the word as written, not its stem


async def test_help_lists_verbs_and_is_private(engine: BriefingEngine) -> None:
    reply = await engine.handle_command("help", CALLER)
    assert reply.ephemeral
    assert "/brief search <words>" in reply.text


async def test_public_suffix_posts_in_the_channel(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rockets were sent to the front."))
    private = await engine.handle_command("rockets", CALLER)
    public = await engine.handle_command("rockets public", CALLER)
    assert private.ephemeral and not public.ephemeral
    assert public.items == private.items


async def test_a_bug_becomes_a_short_apology(engine: BriefingEngine,
                                             caplog: pytest.LogCaptureFixture) -> None:
    async def explode(ctx: Context, args: str) -> Reply:
        raise RuntimeError("secret internals xoxb-123")

    app_of(engine).commands.add_verb("explode", explode, usage="/brief explode",
                                     summary="test only")
    reply = await engine.handle_command("explode", CALLER)
    assert reply.kind is ReplyKind.ERROR
    assert "Sorry" in reply.text and "xoxb" not in reply.text
    assert "command failed" in caplog.text


# classifying reads nothing: core's verbs registered without a store
NO_READING = core.Reading(articles=None, brief=BriefConfig(), language="auto")  # type: ignore[arg-type]


def classify(text: str) -> tuple[str, str]:
    commands = Commands()
    core.register(commands, reading=NO_READING)
    return commands.classify(text)


def test_verbs_are_registered_per_app_not_globally() -> None:
    first, second = Commands(), Commands()
    core.register(first, reading=NO_READING)
    assert "help" in first.verbs and not second.verbs
    with pytest.raises(ValueError, match="twice"):
        core.register(first, reading=NO_READING)


def test_classify() -> None:
    assert classify("") == ("empty", "")
    assert classify("42") == ("number", "42")
    assert classify("#42") == ("number", "42")
    assert classify("help") == ("verb:help", "")
    assert classify("HELP me") == ("verb:help", "me")
    assert classify("https://example.com/a b")[0] == "words"
    assert classify("https://example.com/a") == ("link", "https://example.com/a")
    assert classify("<https://example.com/a|example.com/a>") == ("link", "https://example.com/a")
    assert classify("javascript:alert(1)") == ("link", "javascript:alert(1)")
    assert classify("rocket systems") == ("words", "rocket systems")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"\x00\x01\x02binary" * 10, "looks like a binary file"),
        (b" date 2022-05-31 ", "has no article text"),
    ],
)
async def test_bad_files_are_refused_clearly(engine: BriefingEngine, tmp_path: Path,
                                             content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        await engine.ingest_file(path)
    assert await engine.store.articles.count_articles() == 0


async def test_oversized_file_is_refused_before_reading(engine: BriefingEngine,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:
        fh.truncate(50_000_000)  # sparse: 50 MB on paper
    with pytest.raises(InputError, match=r"the limit is 5\.0 MB"):
        await engine.ingest_file(path)


async def test_non_utf8_and_html_files(engine: BriefingEngine, tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes(" date 2024-01-02 Caf\xe9 owners in S\xe3o Paulo protested on Monday. "
                      "They want lower rents. The city council said it would study the "
                      "request, and owners said they would return next week if nothing "
                      "changed, and that other districts had the same problem.".encode("cp1252"))
    result = await engine.ingest_file(latin)
    assert "Café owners in São Paulo" in result.article.text

    page = tmp_path / "page.html"
    paragraphs = "".join(
        f"<p>Paragraph {i}: the council debated the new transit budget at length today.</p>"
        for i in range(6)
    )
    page.write_text(
        "<html><head><title>Transit budget debated</title></head><body>"
        "<nav>Home | News | <a href='#'>Subscribe</a></nav>"
        f"<article><h1>Transit budget debated</h1>{paragraphs}</article>"
        "<footer>Cookie settings</footer></body></html>"
    )
    html = await engine.ingest_file(page)
    assert html.article.title == "Transit budget debated"
    assert "Cookie" not in html.article.text and "Subscribe" not in html.article.text
    assert html.article.summary


def test_titles_from_first_sentences() -> None:
    from bot.ingest.files import title_from_sentence

    sentence = ("President Biden on Tuesday confirmed that his administration is sending "
                "medium-range advanced rocket systems to Ukraine, responding to a top request "
                "from Ukrainian officials.")
    assert title_from_sentence(sentence, limit=120) == (
        "President Biden on Tuesday confirmed that his administration is sending "
        "medium-range advanced rocket systems to Ukraine…")
    # a clause cut never ends on the word that opens the next phrase
    markova = ("Dame Alicia Markova, who has died in Bath aged 94, was the UK's first prima "
               "ballerina of the modern age, and a founder of English National Ballet.")
    assert title_from_sentence(markova, limit=120) == (
        "Dame Alicia Markova, who has died in Bath aged 94, was the UK's first prima ballerina "
        "of the modern age…")
    assert title_from_sentence("Short and sweet.", limit=120) == "Short and sweet"
    long = "word " * 60
    cut = title_from_sentence(long, limit=50)
    assert len(cut) <= 50 and cut.endswith("…")


async def test_a_mistyped_verb_says_which_command_was_meant(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rockets were sent to the front. Fees rose again."))
    feed = await engine.handle_command("feed add https://example.com/rss.xml", CALLER)
    assert feed.text == (
        "Nothing found for “feed add https://example.com/rss.xml”.\n"
        "`feed` is not a command: did you mean `/brief feeds add https://example.com/rss.xml`? "
        "`/brief help` lists every command.")
    typo = await engine.handle_command("subscirbe rocket", CALLER)
    assert typo.items  # the search still answers...
    assert "did you mean `/brief subscribe rocket`?" in typo.text  # ...and names the verb
    # a word the articles hold is a real search, not a typo ("fees" is close to "feeds")
    real = await engine.handle_command("fees rockets", CALLER)
    assert real.items and "not a command" not in real.text
    # `/brief search` searches exactly what it is given
    searched = await engine.handle_command("search feed", CALLER)
    assert searched.text.startswith("Nothing found for “feed”.")
    assert "not a command" not in searched.text
    # what is echoed pings no one
    ping = await engine.handle_command("alert <!channel>", CALLER)
    assert "<!channel>" not in ping.text.split("\n", 1)[1]


async def test_only_a_whole_brief_word_is_taken_as_the_command_name(
        engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rockets were sent to the front."))
    assert "/brief search <words>" in (await engine.handle_command("/BRIEF help", CALLER)).text
    assert (await engine.handle_command("/brief", CALLER)).text.startswith("Latest briefing")
    # "/briefly" is not "/brief" + "ly": the text is searched as typed
    typed = await engine.handle_command("/briefly rockets", CALLER)
    assert typed.text.startswith("Briefing on “/briefly rockets”")


async def test_a_pasted_paragraph_is_echoed_shortened(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rockets were sent to the front."))
    nothing = await engine.handle_command("yyword " + "zzword " * 500, CALLER)
    assert nothing.text.startswith("Nothing found for “yyword zzword")
    assert nothing.text.split("”")[0].endswith("zzword…") and len(nothing.text) < 120
    found = await engine.handle_command("rockets " + "zzword " * 500, CALLER)
    assert found.items and len(found.text) < 160
    short = await engine.handle_command("rockets front", CALLER)
    assert short.text.startswith("Briefing on “rockets front”: 1 article")


async def test_a_failure_while_opening_closes_the_database(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing may keep aiosqlite's worker thread alive after a failed start (it would keep
    the process from exiting)."""
    import threading

    import bot.app as app_module

    def broken(engine: BriefingEngine, **kwargs: Any) -> None:
        raise RuntimeError("a feature failed to install")

    monkeypatch.setattr(app_module, "build", broken)
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="failed to install"):
        await app_module.open_app(config)
    for thread in threading.enumerate():
        if thread.ident not in before and "connection_worker" in thread.name:
            thread.join(timeout=5)
            assert not thread.is_alive(), f"{thread.name} was left running"


async def test_prepared_listeners_get_their_work_done_in_the_summary_trip(
    engine: BriefingEngine, caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[tuple[str, str, str]] = []
    heard: list[tuple[int, object]] = []

    def prepare(title: str, text: str) -> str:
        done.append((threading.current_thread().name, title, text))
        return f"prepared {len(done)}"

    async def listener(article: Article, prepared: str) -> None:
        heard.append((article.id, prepared))

    def broken(title: str, text: str) -> None:
        raise RuntimeError("analysis bug")

    async def never(article: Article, prepared: None) -> None:
        raise AssertionError("a listener whose prepare failed is not called")

    trips = 0
    real_run = engine.summarizer.run

    async def counted(func: Any, /, *args: Any) -> Any:
        nonlocal trips
        trips += 1
        return await real_run(func, *args)

    engine.summarizer.run = counted  # type: ignore[method-assign]
    engine.on_new_article_prepared(prepare, listener)
    engine.on_new_article_prepared(broken, never)
    text = "  Alpha happened today. It was the first time in years.\n"
    r1 = await engine.ingest(ArticleDraft(text=text, title="Alpha"))
    await engine.ingest(ArticleDraft(text=text, title="Alpha"))  # known: nothing prepared
    await engine.ingest(ArticleDraft(text="Backlog item."), notify=False)
    assert heard == [(r1.article.id, "prepared 1")]
    # in the worker, with the stored article's title and text, in the summary's one trip
    assert len(done) == 1 and done[0][0].startswith("summarize")
    assert done[0][1:] == (r1.article.title, r1.article.text) and r1.article.text == text
    assert trips == 2  # one for the new article, one for the backlog item
    assert r1.article.summary and "analysis bug" in caplog.text


async def test_content_hash_lowers_each_word_as_alone() -> None:
    from bot.engine import content_hash
    from bot.text import words

    for text in ("ΟΔΟΣ.Α ΟΔΟΣ", "ΑΣ’Β ΣΑ-ΣΟΣ", "İstanbul, Straße. The END", "Σ Σ.Σ"):
        normal = " ".join(w.lower() for w in words(text))
        assert content_hash(text) == hashlib.sha256(normal.encode()).hexdigest()
