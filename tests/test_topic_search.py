"""``/brief <words>`` on both backends: accents folded, "did you mean", phrases."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine import BriefingEngine
from bot.models import ArticleDraft

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def add(engine: BriefingEngine, n: int, title: str, text: str) -> int:
    article = await engine.store.articles.add_article(
        ArticleDraft(text=text), title=title, summary=[text], content_hash=f"h{n}",
        canonical_url=None, ingested_at=NOW)
    assert article is not None
    return article.id


async def test_accents_are_folded_both_ways(engine: BriefingEngine) -> None:
    cafe = await add(engine, 1, "Café culture returns", "The cafés of São Paulo reopened.")
    plain = await add(engine, 2, "Senor Nunez wins", "Jose Nunez won the regional election.")
    await add(engine, 3, "Weather", "Rain all week.")
    search = engine.store.articles.search_articles
    assert [a.id for a in await search("cafe", limit=5)] == [cafe]
    assert [a.id for a in await search("Sao Paulo", limit=5)] == [cafe]
    assert [a.id for a in await search("são paulo", limit=5)] == [cafe]
    assert [a.id for a in await search("Núñez", limit=5)] == [plain]
    assert [a.id for a in await search('"José Núñez"', limit=5)] == [plain]


async def test_did_you_mean_offers_a_stored_word(engine: BriefingEngine) -> None:
    await add(engine, 1, "Government talks", "The government met the unions on Monday.")
    await add(engine, 2, "Weather", "Rain all week.")
    assert await engine.store.articles.search_articles("goverment", limit=5) == []
    assert "government" in [s.lower() for s in
                            await engine.store.articles.suggest_terms("goverment")]
