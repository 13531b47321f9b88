"""Moving up: `briefbot db copy --to postgresql://…` copies a SQLite database, ids and all,
into an empty PostgreSQL database, refuses one that is not empty, and the bot carries on
there: no alert is sent twice, no digest posted twice, new ids never collide."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.digests.rules import DailyTime, next_occurrence
from bot.errors import StoreError
from bot.models import ArticleDraft
from bot.store import open_store
from bot.store.postgres import open_postgres_store
from bot.store.postgres.copy import COPY_ORDER, copy_database
from bot.store.records import ClaimState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _fill(path: Path) -> dict[str, int]:
    store = await open_store(path)
    try:
        ids = {}
        for i in range(3):
            a = await store.articles.add_article(
                ArticleDraft(text=f"rocket story {i}", url=f"https://n.example/{i}"),
                title=f"Rocket {i}", summary=[f"rocket story {i}"], content_hash=f"h{i}",
                canonical_url=f"https://n.example/{i}", ingested_at=NOW)
            assert a is not None
            ids[f"article{i}"] = a.id
        await store.articles.add_article_url("https://short.example/x", ids["article1"])
        feed, _ = await store.feeds.add_feed("https://n.example/feed.xml", now=NOW,
                                             next_poll_at=NOW + timedelta(minutes=30))
        await store.feeds.record_feed_success(
            feed.id, now=NOW, next_poll_at=NOW + timedelta(minutes=30), etag='"e1"',
            last_modified=None, body_hash="b", result="2 new", primed=True)
        await store.feeds.link_channel_feed(platform="slack", channel_id="C1", feed_id=feed.id)
        await store.feeds.record_feed_item(feed.id, key="k1", guid="g1", link=None,
                                           status="stored", now=NOW, article_id=ids["article0"])
        # a subscription deleted before the copy: its id must never come back
        for query in ("gone", "rocket"):
            _, sub = await store.alerts.add_subscription(
                platform="slack", owner_kind="user", owner_id="U1", created_by="U1",
                query=query, query_key=query, language="english", now=NOW, limit=10)
            assert sub is not None
            ids[query] = sub.id
        await store.alerts.delete_subscription(ids["gone"])
        await store.alerts.record_alerts(article_id=ids["article0"],
                                         matches=[(ids["rocket"], ["rocket"])], now=NOW, due=NOW)
        [batch] = await store.alerts.claim_due_alerts(
            now=NOW, window_seconds=0, lease_seconds=60, max_per_destination=10)
        await store.alerts.mark_alerts_sent([a.id for a in batch.alerts], now=NOW)
        rule = DailyTime(hour=8, minute=0, timezone="UTC", weekdays=127)
        first = next_occurrence(rule, after=NOW - timedelta(days=1))
        await store.digests.set_digest_schedule(platform="slack", channel_id="C1", rule=rule,
                                                first=first, by="U1", now=NOW)
        claim = await store.digests.claim_digest(
            platform="slack", channel_id="C1", local_date=first.local_date,
            due_at=first.due_at, owner="old", now=NOW, lease_until=NOW + timedelta(minutes=5),
            next_local_date=date(2026, 3, 2), next_due_at=NOW + timedelta(days=1))
        assert claim.state is ClaimState.WON and claim.run_id is not None
        await store.digests.finish_digest(
            run_id=claim.run_id, owner="old", sent=True, period_start=None, period_end=NOW,
            through_article_id=ids["article2"], items=3, late=False, now=NOW)
        ids["day"] = first.local_date.toordinal()
        await store.platform.set_meta("discord.commands", "abc", now=NOW)
        # the digests' stories: terms and story of each placed article, and their state
        assert await store.stories.claim_stories(owner="old", now=NOW,
                                                 lease_until=NOW + timedelta(minutes=1))
        assert await store.stories.save_stories(
            [(ids["article0"], ids["article0"], "rocket\tstori"),
             (ids["article1"], ids["article0"], "rocket\t")], owner="old",
            setting="english 0.3", generation=1, lo=0, hi=ids["article1"], now=NOW)
        return ids
    finally:
        await store.close()


async def test_copy_keeps_ids_and_the_bot_carries_on(tmp_path: Path, postgres_url: str) -> None:
    path = tmp_path / "old.db"
    ids = await _fill(path)
    seen: list[tuple[str, int, int]] = []
    copied = await copy_database(str(path), postgres_url,
                                 progress=lambda t, d, n: seen.append((t, d, n)))
    counts = {c.table: c.rows for c in copied}
    assert [c.table for c in copied] == list(COPY_ORDER)
    assert counts["articles"] == 3 and counts["subscriptions"] == 1 and counts["alerts"] == 1
    assert counts["digest_runs"] == 1 and counts["meta"] == 1 and counts["feed_items"] == 1
    assert ("articles", 3, 3) in seen

    pg = await open_postgres_store(postgres_url)
    try:
        a1 = await pg.articles.get_article(ids["article1"])
        assert a1 is not None and a1.title == "Rocket 1" and a1.summary == ("rocket story 1",)
        assert (await pg.articles.article_by_url("https://short.example/x")) == a1
        found = await pg.articles.search_articles("rocket 2", limit=5)
        assert found[0].title == "Rocket 2"  # the search index was built from the copied rows
        [feed] = await pg.feeds.list_feeds()
        assert feed.etag == '"e1"' and feed.primed and feed.last_result == "2 new"
        assert await pg.feeds.channel_feed_ids(platform="slack", channel_id="C1") == [feed.id]
        assert await pg.feeds.feed_item_counts() == {feed.id: {"stored": 1}}  # kept by COPY
        assert await pg.platform.get_meta("discord.commands") == "abc"
        assert await pg.stories.story_rows(after_id=0, through_id=ids["article2"]) == [
            (ids["article0"], ids["article0"], "rocket\tstori"),
            (ids["article1"], ids["article0"], "rocket\t")]
        stories = await pg.stories.story_state()
        assert stories is not None and (stories.generation, stories.hi, stories.owner) == (
            1, ids["article1"], None)
        # the sent alert stays sent; the posted digest stays posted
        assert await pg.alerts.claim_due_alerts(
            now=NOW + timedelta(hours=1), window_seconds=0, lease_seconds=60,
            max_per_destination=10) == []
        again = await pg.digests.claim_digest(
            platform="slack", channel_id="C1", local_date=date.fromordinal(ids["day"]),
            due_at=NOW, owner="new", now=NOW + timedelta(hours=1),
            lease_until=NOW + timedelta(hours=2), next_local_date=date(2026, 3, 2),
            next_due_at=NOW + timedelta(days=1))
        assert again.state is ClaimState.DONE  # posted on SQLite: not posted again
        last = await pg.digests.last_digest(platform="slack", channel_id="C1")
        assert last is not None and last.through_article_id == ids["article2"]
        # new rows get new ids: past the copied ones, and past the deleted subscription's
        a = await pg.articles.add_article(ArticleDraft(text="new"), title="New", summary=[],
                                          content_hash="new", canonical_url=None,
                                          ingested_at=NOW)
        assert a is not None and a.id == ids["article2"] + 1
        _, sub = await pg.alerts.add_subscription(
            platform="slack", owner_kind="user", owner_id="U1", created_by="U1", query="x",
            query_key="x", language="english", now=NOW, limit=10)
        assert sub is not None and sub.id > max(ids["gone"], ids["rocket"])
    finally:
        await pg.close()

    # a target that is not empty is refused, and nothing is added to it
    with pytest.raises(StoreError, match="is not empty"):
        await copy_database(str(path), postgres_url)


def test_the_command_copies_and_prints_counts(tmp_path: Path, postgres_url: str,
                                              capsys: pytest.CaptureFixture[str],
                                              sample_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert main(["--db", str(db), "ingest", str(sample_path)]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "db", "copy", "--to", postgres_url]) == 0
    out, err = capsys.readouterr()
    assert "articles\t1" in out and "done: " in err
    # the copy answers /brief as the file did
    assert main(["--db", postgres_url, "brief", "rocket"]) == 0
    assert "rocket" in capsys.readouterr().out.lower()
    # again: refused, exit non-zero, one line
    assert main(["--db", str(db), "db", "copy", "--to", postgres_url]) != 0
    assert "is not empty" in capsys.readouterr().err
    # no file to copy from
    assert main(["--db", str(tmp_path / "none.db"), "db", "copy", "--to", postgres_url]) != 0
    assert "no SQLite database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_a_password_on_the_command_line_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "copy", "--to", "postgresql://u:secret@127.0.0.1/x"]) != 0
    err = capsys.readouterr().err
    assert "password" in err and "secret" not in err


def test_the_readme_main_job_on_postgres_creates_no_sqlite_file(
        tmp_path: Path, postgres_url: str, sample_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """BRIEFBOT_DATABASE_URL alone moves everything: ingest, /brief, alerts, digests, feeds."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIEFBOT_DATABASE_URL", postgres_url)
    monkeypatch.delenv("BRIEFBOT_CONFIG", raising=False)
    assert main(["ingest", str(sample_path)]) == 0
    assert main(["brief", "rocket"]) == 0
    assert "rocket" in capsys.readouterr().out.lower()
    for words in (["subscribe", "rocket"], ["digest", "08:00", "UTC"], ["alerts"], ["feeds"]):
        assert main(["brief", *words]) == 0, words
    out = capsys.readouterr().out
    assert "rocket" in out and "08:00" in out
    assert list(tmp_path.iterdir()) == []  # no SQLite file anywhere here
