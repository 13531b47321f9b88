"""The PostgreSQL backend's own rules: migrations under a lock, clear connection errors,
full-text search, and every claim and limit correct when several processes race.

The behaviour both backends share is tested once for both (the ``store`` fixture); this file
holds what only PostgreSQL can get wrong: out-of-order commits, SKIP LOCKED claims across
separate connection pools (separate pools stand for separate processes: nothing is shared but
the server), the advisory-lock migration, and the server's error messages.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from bot.app import digest_kit
from bot.errors import SchemaTooNewError, StoreError
from bot.models import ArticleDraft
from bot.store.postgres import PostgresStore, open_postgres_store
from bot.store.postgres import articles as pg_articles
from bot.store.postgres.articles import insert_article
from bot.store.postgres.base import check_server_version
from bot.store.postgres.migrate import SCHEMA_VERSION
from bot.store.records import ClaimState
from tests.postgres_server import PASSWORD, PASSWORD_USER, PostgresServer, with_database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = await open_postgres_store(postgres_url, pool_size=4)
    yield store
    await store.close()


@pytest.fixture
async def pgs(postgres_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three stores with their own pools: three processes, as far as the server can tell."""
    stores = [await open_postgres_store(postgres_url, pool_size=3) for _ in range(3)]
    yield stores
    for s in stores:
        await s.close()


async def add(store: PostgresStore, text: str, *, h: str, title: str = "T",
              url: str | None = None, at: datetime = NOW):  # type: ignore[no-untyped-def]
    return await store.articles.add_article(
        ArticleDraft(text=text, url=url), title=title, summary=[text], content_hash=h,
        canonical_url=url, ingested_at=at)


# -- migrations ---------------------------------------------------------------------------


@pytest.fixture
async def empty_db(postgres_server: PostgresServer | None,
                   postgres_url: str) -> AsyncIterator[str]:
    assert postgres_server is not None
    name = await postgres_server.create_database(template="template0")
    yield postgres_server.url(name)
    await postgres_server.drop_database(name)


async def test_processes_starting_together_migrate_once(empty_db: str) -> None:
    stores = await asyncio.gather(*(open_postgres_store(empty_db, pool_size=1)
                                    for _ in range(4)))
    try:
        rows = await stores[0].pool.fetch("SELECT version, name FROM schema_version")
        assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        assert await stores[0].articles.count_articles() == 0
    finally:
        for s in stores:
            await s.close()


async def test_a_newer_schema_is_refused_and_left_untouched(empty_db: str) -> None:
    store = await open_postgres_store(empty_db, pool_size=1)
    await add(store, "kept", h="h1")
    await store.pool.execute("INSERT INTO schema_version (version, name) VALUES (999, 'x')")
    await store.close()
    with pytest.raises(SchemaTooNewError, match=r"schema version 999.*left untouched"):
        await open_postgres_store(empty_db, pool_size=1)
    conn = await asyncpg.connect(empty_db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM articles") == 1
        assert await conn.fetchval("SELECT max(version) FROM schema_version") == 999
    finally:
        await conn.close()


# -- connection errors: one clear line, host and database, never the password --------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_server_names_host_and_database() -> None:
    port = _closed_port()
    with pytest.raises(StoreError) as err:
        await open_postgres_store(f"postgresql://bot:s3cret@127.0.0.1:{port}/newsroom",
                                  connect_timeout=5)
    text = str(err.value)
    assert f"127.0.0.1:{port}/newsroom" in text and "cannot reach" in text
    assert "s3cret" not in text


async def test_a_missing_database_is_named(postgres_server: PostgresServer | None,
                                           postgres_url: str) -> None:
    assert postgres_server is not None
    with pytest.raises(StoreError, match="database no_such_db does not exist"):
        await open_postgres_store(postgres_server.url("no_such_db"))


async def test_a_wrong_password_is_said(postgres_server: PostgresServer | None,
                                        postgres_url: str) -> None:
    assert postgres_server is not None
    if not postgres_server.password_auth:
        pytest.skip("the server under BRIEFBOT_TEST_POSTGRES_URL has no password role")
    url = with_database(postgres_server.admin_url, "postgres")
    wrong = url.replace("postgres:@", f"{PASSWORD_USER}:wrong-horse@")
    with pytest.raises(StoreError, match=f"refused the password for user {PASSWORD_USER}") as e:
        await open_postgres_store(wrong)
    assert "wrong-horse" not in str(e.value)
    right = url.replace("postgres:@", f"{PASSWORD_USER}:{PASSWORD}@")
    conn = await asyncpg.connect(right)  # the same role with its password gets in
    await conn.close()


def test_a_server_older_than_13_is_refused() -> None:
    with pytest.raises(StoreError, match="version 12; briefbot needs PostgreSQL 13"):
        check_server_version(12, where="postgresql db1:5432/news")
    check_server_version(13, where="x")


# -- search ---------------------------------------------------------------------------------


async def test_search_weights_the_title_and_never_passes_syntax(pg: PostgresStore) -> None:
    await add(pg, "Rockets and rockets again: a rocket report about rockets.", h="1",
              title="Weather")
    await add(pg, "A short note.", h="2", title="Rocket launch delayed")
    await add(pg, "Nothing relevant here at all.", h="3", title="Gardening")
    found = await pg.articles.search_articles("rocket", limit=5)
    assert [a.title for a in found] == ["Rocket launch delayed", "Weather"]
    # all words first, then any word
    assert [a.title for a in await pg.articles.search_articles("rocket weather", limit=5)
            ] == ["Weather"]
    assert {a.title for a in await pg.articles.search_articles("rocket gardening", limit=5)
            } == {"Weather", "Rocket launch delayed", "Gardening"}
    for hostile in ['"', "rocket & !", "(((", "a:* | b", "' OR 1=1 --", "<->"]:
        await pg.articles.search_articles(hostile, limit=5)  # no syntax error reaches us
    # offered as the articles write it (the newest match's title), not as the stem
    assert await pg.articles.suggest_terms("rokcet") == ["Rocket"]
    # words in quotes are a phrase; an unclosed quote is plain words
    await add(pg, "The prime minister spoke about the budget.", h="p1", title="One")
    await add(pg, "The minister was prime suspect in the budget story.", h="p2", title="Two")
    assert [a.title for a in await pg.articles.search_articles('"prime minister"', limit=5)
            ] == ["One"]
    assert {a.title for a in await pg.articles.search_articles('"prime minister', limit=5)
            } == {"One", "Two"}


async def test_a_very_common_word_is_answered_by_recency_as_on_sqlite(
        pg: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/test_store_scale.py's SQLite case: a word in more than RANK_WINDOW articles is
    answered newest first (title matches first among the newest), a rarer one by rank."""
    monkeypatch.setattr(pg_articles, "RANK_WINDOW", 5)
    # the oldest article is the best ranked match (the word in its title, twice in its text)
    await add(pg, "Officials said it twice: said.", h="0", title="Said")
    for i in range(1, 20):
        await add(pg, f"Story {i}. A spokesman said little more about it today.", h=f"{i}",
                  title="Said again" if i == 17 else f"Story {i}")
    found = await pg.articles.search_articles("said", limit=3)
    assert [a.title for a in found] == ["Said again", "Story 19", "Story 18"]
    rare = await pg.articles.search_articles("officials", limit=3)
    assert [a.title for a in rare] == ["Said"]
    # several words: title first only for one word or phrase (as on SQLite)
    assert [a.title for a in await pg.articles.search_articles("said spokesman", limit=3)
            ] == ["Story 19", "Story 18", "Said again"]


async def test_a_phrase_of_common_words_is_checked_among_the_newest_candidates(
        pg: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_articles, "RANK_WINDOW", 3)
    monkeypatch.setattr(pg_articles, "RECENT_CANDIDATES", 6)
    await add(pg, "The prime minister spoke first.", h="old", title="Oldest")
    for i in range(1, 9):
        text = ("The prime minister spoke." if i % 2 else
                "The minister was prime suspect.")
        await add(pg, text, h=f"p{i}", title=f"Story {i}")
    found = await pg.articles.search_articles('"prime minister"', limit=5)
    # the phrase among the 6 newest articles holding both words: 7, 5, 3 (not 1 nor Oldest)
    assert [a.title for a in found] == ["Story 7", "Story 5", "Story 3"]
    assert [a.title for a in await pg.articles.search_articles("prime minister", limit=2)
            ] == ["Story 8", "Story 7"]


async def test_common_by_the_planner_estimate_and_both_ways_to_read_the_newest(
        pg: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """PG 0009 (0012): once the statistics say a word is in at least 3x RANK_WINDOW articles it is
    common without a count; the newest matches read down the key or from the GIN bitmap are
    the same articles in the same order."""
    monkeypatch.setattr(pg_articles, "RANK_WINDOW", 4)
    await add(pg, "Officials said it twice: said.", h="0", title="Said")
    for i in range(1, 40):
        await add(pg, f"Story {i}. A spokesman said little more about it today.", h=f"{i}",
                  title="Said again" if i == 37 else f"Story {i}")
    await pg.pool.execute("ANALYZE articles")
    estimate = await pg.pool.fetchval(
        "SELECT briefbot_estimated_matches(websearch_to_tsquery('english', 'said'))")
    assert estimate >= 3 * 4
    # counted through the bitmap, at most the cap
    assert await pg.pool.fetchval(
        "SELECT briefbot_count_matches(websearch_to_tsquery('english', 'officials'), 4)") == 1
    assert await pg.pool.fetchval(
        "SELECT briefbot_count_matches(websearch_to_tsquery('english', 'said'), 4)") == 4
    found = await pg.articles.search_articles("said", limit=3)
    assert [a.title for a in found] == ["Said again", "Story 39", "Story 38"]
    for words, title_first in (('"said"', True), ('"said" "spokesman"', False)):
        walked, from_bitmap = [
            [r[0] for r in await pg.pool.fetch(
                f"SELECT id FROM {fn}($1, $1, $2, 5, 10, 4, false) ORDER BY ord",
                words, title_first)]
            for fn in ("briefbot_search_recent", "briefbot_search_recent_bitmap")]
        assert walked == from_bitmap and len(walked) == 5


# -- claims and limits under concurrency -----------------------------------------------------


async def test_due_feeds_are_claimed_by_one_process_each(pgs: list[PostgresStore]) -> None:
    for i in range(30):
        await pgs[0].feeds.add_feed(f"http://127.0.0.1/f{i}.xml", now=NOW, next_poll_at=NOW)
    claims = await asyncio.gather(*(
        s.feeds.claim_due_feeds(now=NOW, lease_until=NOW + timedelta(minutes=5), limit=12)
        for s in pgs))
    ids = [f.id for claim in claims for f in claim]
    assert len(ids) == len(set(ids)) == 30
    # leased: nothing is due again until the lease runs out, then everything is
    assert await pgs[1].feeds.claim_due_feeds(now=NOW + timedelta(minutes=1),
                                              lease_until=NOW + timedelta(minutes=9)) == []
    again = await pgs[2].feeds.claim_due_feeds(now=NOW + timedelta(minutes=5),
                                               lease_until=NOW + timedelta(minutes=9))
    assert len(again) == 30


async def test_the_subscription_limit_holds_under_concurrent_subscribes(
        pgs: list[PostgresStore]) -> None:
    async def subscribe(store: PostgresStore, i: int) -> str:
        status, _ = await store.alerts.add_subscription(
            platform="slack", owner_kind="user", owner_id="U1", created_by="U1",
            query=f"q{i}", query_key=f"q{i}", language="english", now=NOW, limit=5)
        return status

    results = await asyncio.gather(*(subscribe(pgs[i % 3], i) for i in range(24)))
    assert results.count("added") == 5 and results.count("limit") == 19
    assert len(await pgs[0].alerts.subscriptions_of(platform="slack", owner_kind="user",
                                                     owner_id="U1")) == 5
    # the same query at once from three processes: one row (a database constraint)
    same = await asyncio.gather(*(s.alerts.add_subscription(
        platform="slack", owner_kind="user", owner_id="U2", created_by="U2", query="x",
        query_key="x", language="english", now=NOW, limit=5) for s in pgs))
    assert sorted(status for status, _ in same) == ["added", "duplicate", "duplicate"]


async def test_alerts_are_recorded_once_and_delivered_by_one_process(
        pgs: list[PostgresStore]) -> None:
    a = await add(pgs[0], "rocket news", h="r1")
    subs = []
    for owner in ("U1", "U2", "U3", "U4"):
        _, sub = await pgs[0].alerts.add_subscription(
            platform="slack", owner_kind="user", owner_id=owner, created_by=owner,
            query="rocket", query_key="rocket", language="english", now=NOW, limit=5)
        assert sub is not None
        subs.append(sub.id)
    matches = [(s, ["rocket"]) for s in subs]
    created = await asyncio.gather(*(s.alerts.record_alerts(
        article_id=a.id, matches=matches, now=NOW, due=NOW) for s in pgs))
    assert sorted(created) == [0, 0, 4]
    batches = await asyncio.gather(*(s.alerts.claim_due_alerts(
        now=NOW, window_seconds=0, lease_seconds=60, max_per_destination=10) for s in pgs))
    claimed = [alert.id for bs in batches for b in bs for alert in b.alerts]
    assert len(claimed) == len(set(claimed)) == 4


async def test_one_digest_claim_wins_per_channel_and_day(pgs: list[PostgresStore]) -> None:
    from bot.digests.rules import DailyTime, next_occurrence

    rule = DailyTime(hour=8, minute=0, timezone="UTC", weekdays=127)
    first = next_occurrence(rule, after=NOW - timedelta(days=1))
    await pgs[0].digests.set_digest_schedule(platform="slack", channel_id="C1", rule=rule,
                                             first=first, by="U1", now=NOW)
    claims = await asyncio.gather(*(s.digests.claim_digest(
        platform="slack", channel_id="C1", local_date=first.local_date, due_at=first.due_at,
        owner=f"p{i}", now=NOW, lease_until=NOW + timedelta(minutes=5),
        next_local_date=date(2026, 3, 2), next_due_at=NOW + timedelta(days=1))
        for i, s in enumerate(pgs)))
    assert sorted(c.state for c in claims) == [ClaimState.HELD, ClaimState.HELD, ClaimState.WON]


# -- "new since the last digest" when ids commit out of order --------------------------------


async def test_a_watermark_never_passes_an_id_still_in_flight(
        pg: PostgresStore, postgres_url: str) -> None:
    """Two ingests in two processes: id 1 is drawn first but commits after id 2. A digest
    that reads its watermark in between must not go past 1 until 1 has committed."""
    slow = await asyncpg.connect(postgres_url)
    try:
        tx = slow.transaction()
        await tx.start()
        first = await insert_article(
            slow, ArticleDraft(text="drawn first, committed last"), title="A", summary=[],
            content_hash="a", canonical_url=None, ingested_at=NOW, backlog=False)
        assert first is not None and first.id == 1
        second = await add(pg, "drawn second, committed first", h="b")
        assert second.id == 2
        watermark = asyncio.create_task(pg.articles.max_article_id())
        await asyncio.sleep(0.3)
        assert not watermark.done()  # it waits for the insert still in flight ...
        await tx.commit()
        through = await watermark    # ... and then covers both
        assert through == 2
        window = await pg.articles.digest_articles(after_id=0, through_id=through)
        assert [a.id for a in window] == [1, 2]
    finally:
        await slow.close()


def test_the_postgres_repositories_implement_every_port_method() -> None:
    import inspect

    from bot.store import ports
    from bot.store.postgres.alerts import PgAlerts
    from bot.store.postgres.articles import PgArticles
    from bot.store.postgres.digests import PgDigests
    from bot.store.postgres.feeds import PgFeeds
    from bot.store.postgres.platform import PgPlatformState
    from bot.store.postgres.stories import PgStories

    impls = {ports.ArticleStore: PgArticles, ports.FeedStore: PgFeeds,
             ports.AlertStore: PgAlerts, ports.DigestStore: PgDigests,
             ports.PlatformStateStore: PgPlatformState, ports.StoryStore: PgStories}
    for proto, impl in impls.items():
        wanted = {n for n, v in vars(proto).items()
                  if inspect.iscoroutinefunction(v) and not n.startswith("_")}
        assert wanted, proto
        for method in wanted:
            assert inspect.signature(getattr(impl, method)) == inspect.signature(
                getattr(proto, method)), f"{impl.__name__}.{method} differs from {proto.__name__}"


async def test_a_digest_posts_an_article_whose_id_committed_late(
        postgres_url: str) -> None:
    """The whole digest pass, not only the store: ingest A draws id 1 and commits after ingest
    B's id 2; the digest due in between posts both, and the next day's posts neither again."""
    from dataclasses import replace

    from bot.app import open_app
    from bot.config import default_config
    from bot.digests.scheduler import DigestScheduler
    from bot.models import Caller
    from bot.publish import RecordingPublisher
    from tests.conftest import FixedClock

    base = default_config()
    cfg = replace(base, storage=replace(base.storage, url=postgres_url),
                  digest=replace(base.digest, empty_message="Nothing new."))
    clock = FixedClock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    app = await open_app(cfg, clock=clock)
    engine = app.engine
    publisher = RecordingPublisher(platform="console")
    engine.add_publisher(publisher)
    slow = await asyncpg.connect(postgres_url)
    try:
        admin = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)
        assert not (await engine.handle_command("digest 08:00 UTC", admin)).is_error
        clock.now = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
        tx = slow.transaction()
        await tx.start()
        late = await insert_article(
            slow, ArticleDraft(text="Rockets reached the eastern front."), title="Late story",
            summary=["Rockets reached the eastern front."], content_hash="late", canonical_url=None,
            ingested_at=clock.now, backlog=False)
        early = await engine.store.articles.add_article(
            ArticleDraft(text="Wheat prices fell in Chicago."), title="Early story",
            summary=["Wheat prices fell in Chicago."],
            content_hash="early", canonical_url=None, ingested_at=clock.now)
        assert late is not None and early is not None and late.id < early.id
        clock.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        scheduler = DigestScheduler(digest_kit(engine), owner="p1")
        digest = asyncio.create_task(scheduler.run_due())
        await asyncio.sleep(0.3)
        await tx.commit()
        assert (await asyncio.wait_for(digest, 30)).sent == ("console:C1",)
        [(_, reply)] = publisher.sent
        assert {item.title for item in reply.items} == {"Late story", "Early story"}
        clock.now = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
        assert (await scheduler.run_due()).sent == ("console:C1",)
        assert publisher.sent[-1][1].items == ()  # nothing new: neither story again
    finally:
        await slow.close()
        await app.close()
