"""The ``briefbot`` command line: the only place that exits the process.

Every subcommand is a small async function over the app (:mod:`bot.app` wires it); user
mistakes print one line on standard error and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.platforms import PLATFORMS
from bot import __version__
from bot.config import (
    ALGORITHMS,
    ENV_CONFIG,
    Config,
    SummarizerConfig,
    load_config,
    secrets_from_env,
    with_database,
)
from bot.datahome import DatabaseChoice, choose_database, legacy_notice
from bot.dburl import ENV_DATABASE_URL, is_postgres_url, parse_database
from bot.errors import BriefbotError, InputError, StoreError, UserError
from bot.ingest.files import parse_bytes, read_limited, split_date_header
from bot.ingest.pages import draft_from_record
from bot.logs import configure_logging, remove_logging
from bot.models import ArticleDraft, Caller
from bot.progress import Progress
from bot.render import render_text

if TYPE_CHECKING:
    from bot.app import App
    from bot.engine import BriefingEngine

# bot.app (and with it the features, aiohttp, feedparser...) is imported when a command needs
# the store, so `briefbot --help`, `--version` and `summarize` start quickly.

log = logging.getLogger("briefbot")

EXIT_USER = 2
DRAIN_SECONDS = 10.0  # `run --drain`: a SIGTERM lets posts under way finish this long
EXIT_ERROR = 1


_HELP_CONFIG = "TOML config file (default: $BRIEFBOT_CONFIG, else built-in defaults)"
_HELP_DB = ("database file, or a postgresql://host/db URL (default: $BRIEFBOT_DATABASE_URL, "
            "$BRIEFBOT_DB, else [storage] url or path, else ./briefbot.db if there is one, else "
            "your user data folder; `briefbot status` shows it; a password goes in "
            "BRIEFBOT_DATABASE_URL or PGPASSWORD)")
_HELP_VERBOSE = "log debug messages"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="briefbot",
        description="Keeps a team briefed on the news: articles in, summaries and briefings out.",
    )
    parser.add_argument("--version", action="store_true",
                        help="print the version, and which config and database are in use")
    parser.add_argument("--config", metavar="PATH", help=_HELP_CONFIG)
    parser.add_argument("--db", metavar="PATH|URL", help=_HELP_DB)
    parser.add_argument("-v", "--verbose", action="store_true", help=_HELP_VERBOSE)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "summarize", help="print a summary of a file, a web page or standard input (stores "
        "nothing)", description="Print a summary of a plain-text or HTML file, of a web page's "
        "http(s) link, or of standard input, without storing anything.")
    p.add_argument("path", nargs="?", default="-", metavar="PATH|URL|-",
                   help="plain-text or HTML article, a web page's http(s) link (fetched with "
                   "the [fetch] safety rules), or - for standard input (the default)")
    p.add_argument("--sentences", "-n", type=int, help="sentences in the summary")
    p.add_argument("--algorithm", "-a", help=f"one of: {', '.join(ALGORITHMS)}")
    p.add_argument("--jsonl", metavar="IN", help='summarise records {"id","text","title"?} '
                   'or {"id","html","url"?} (a saved page, extracted as if fetched) one a line '
                   "from IN ('-' for stdin) and write {\"id\",\"summary\"} lines")
    p.add_argument("--output", "-o", metavar="OUT", help="with --jsonl: write here, not stdout")
    p.add_argument("--workers", type=int, default=1, help="with --jsonl: processes to use")

    p = sub.add_parser(
        "ingest", help="store articles from files and summarise them",
        description="Store articles from files and summarise each once: plain-text (.txt) "
        "and HTML (.html) files, or folders of them (every .txt and .html file in the folder "
        "and its subfolders, hidden ones skipped). One line per file, then the totals; a "
        "file already stored is recognised, so running it again only takes in what is new.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="plain-text or HTML article, or a folder of them (.txt, .html)")

    p = sub.add_parser(
        "brief", help="answer exactly as /brief TEXT would in chat",
        description="Answer exactly as /brief TEXT would in chat, as the console user (an "
        "admin of the console channel). Examples: briefbot brief; briefbot brief rocket; "
        "briefbot brief 1; briefbot brief subscribe rocket -opinion; briefbot brief digest "
        "08:30 Europe/Berlin; briefbot brief help (every verb).",
    )
    # REMAINDER: words of an alert query may start with "-" (rocket -opinion)
    p.add_argument("text", nargs=argparse.REMAINDER, metavar="TEXT",
                   help="what you would type after /brief (nothing: the latest briefing)")

    p = sub.add_parser(
        "feeds", help="list feeds with their health; add, remove, import or export them",
        description="List feeds with their health (the default), add or remove one, import an "
        "OPML file from another feed reader (each feed added once, with progress), or export "
        "them all as OPML 2.0 (to standard output, or to FILE).")
    p.add_argument("action", nargs="?", default="list",
                   choices=("list", "add", "remove", "import", "export"))
    p.add_argument("target", nargs="?", metavar="URL|ID|FILE",
                   help="feed URL (add), id or URL (remove), OPML file (import; - for standard "
                   "input), output file (export; default standard output)")

    sub.add_parser("poll", help="poll every feed once and report what came in",
                   description="Poll every feed once now, due or not, and print one line per "
                   "feed with what came in (new items alert subscribers when `briefbot run` "
                   "delivers them), then the totals.")
    sub.add_parser("status", help="which config and database are in use, and what they hold",
                   description="Print the version, the config file and the database in use "
                   "(and why that one), the database's size, and how many articles, feeds and "
                   "alert subscriptions it holds. Creates nothing.")

    p = sub.add_parser("stats", help="what the database holds: counts and size")
    p.add_argument("--prune", action="store_true",
                   help="apply [storage] keep_days now, then show the counts")

    p = sub.add_parser("digest", help="build a channel's digest now and print it")
    p.add_argument("--channel", metavar="[PLATFORM:]ID", default="console",
                   help="the channel (default: console), e.g. slack:C0123 or discord:1234")
    p.add_argument("--now", action="store_true",
                   help="post it (to standard output) and record it as the channel's latest "
                   "digest, as /brief digest now does; without: a preview that records nothing")

    p = sub.add_parser(
        "run", help="start the bot: Slack/Discord when tokens are set, else the console",
        description="Start the bot: poll feeds, post digests, deliver alerts, and answer /brief "
        "on every platform whose token is set in the environment: SLACK_BOT_TOKEN (with "
        "SLACK_APP_TOKEN for Socket Mode, or SLACK_SIGNING_SECRET for HTTP mode) and "
        "DISCORD_TOKEN; Slack in many workspaces with [slack] client_id, SLACK_CLIENT_SECRET "
        "and SLACK_SIGNING_SECRET. With no token and a terminal, a console reads /brief lines "
        "(Ctrl-D or quit ends it). With no token and no terminal (nohup, systemd, a "
        "container) it runs headless: the services only, until Ctrl-C or SIGTERM. Stops "
        "cleanly on SIGTERM: the digests and alerts being posted finish first (at most "
        "--drain seconds), and claims still held are released.")
    p.add_argument("--drain", dest="drain_seconds", type=float, default=DRAIN_SECONDS,
                   metavar="SECONDS",
                   help=f"on SIGTERM, wait this long at most for posts under way (default "
                   f"{DRAIN_SECONDS:g})")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--no-console", dest="console", action="store_false", default=None,
                     help="never read /brief lines from standard input (a service)")
    how.add_argument("--console", dest="console", action="store_true", default=None,
                     help="read /brief lines from standard input even when it is no terminal")

    sub.add_parser("slack", help="the Slack workspaces that installed briefbot ([slack] "
                   "client_id), and the home workspace")

    p = sub.add_parser(
        "db", help="copy the SQLite database into an empty PostgreSQL database",
        description="briefbot db copy --to postgresql://host/db copies everything (ids kept) "
        "from the SQLite file ([storage] path, or --db PATH) into an empty PostgreSQL database; "
        "then run briefbot with BRIEFBOT_DATABASE_URL set to it. A password goes in PGPASSWORD "
        "or BRIEFBOT_DATABASE_URL (used when --to is not given).")
    p.add_argument("action", choices=("copy",))
    p.add_argument("--to", metavar="URL", help="the PostgreSQL database (default: "
                   "$BRIEFBOT_DATABASE_URL)")

    p = sub.add_parser("discord", help="with DISCORD_TOKEN: print the bot's invite link and "
                       "upload /brief if its definition changed",
                       description="With DISCORD_TOKEN set: sign in, print the link that "
                       "invites the bot to a server, and upload the /brief command if its "
                       "definition changed since the last upload (--force: upload anyway).")
    p.add_argument("--force", action="store_true", help="upload /brief even if unchanged")
    # `briefbot run --config c.toml` works like `briefbot --config c.toml run` (not for
    # `brief`, whose words are all the /brief text: cmd_brief says where to put them)
    for name, command in sub.choices.items():
        if name != "brief":
            command.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                                 help=_HELP_CONFIG)
            command.add_argument("--db", metavar="PATH|URL", default=argparse.SUPPRESS,
                                 help=_HELP_DB)
            command.add_argument("-v", "--verbose", action="store_true",
                                 default=argparse.SUPPRESS, help=_HELP_VERBOSE)
    return parser


# -- summarize ----------------------------------------------------------------------------


def _read_input(path: str, config: Config) -> tuple[bytes, str, str]:
    if path == "-":
        if sys.stdin.isatty():  # `briefbot summarize` typed alone would otherwise seem to hang
            print("briefbot: reading an article from standard input; end it with Ctrl-D "
                  "(or give a file: briefbot summarize FILE)", file=sys.stderr)
        data = sys.stdin.buffer.read(config.ingest.max_file_bytes + 1)
        if len(data) > config.ingest.max_file_bytes:
            raise InputError("standard input is larger than [ingest] max_file_bytes")
        return data, "standard input", ""
    p = Path(path)
    return read_limited(p, max_bytes=config.ingest.max_file_bytes), p.name, p.suffix


def _check_algorithm(name: str | None, config: Config) -> str:
    algorithm = (name or config.summarizer.algorithm).lower()
    if algorithm not in ALGORITHMS:
        close = difflib.get_close_matches(algorithm, ALGORITHMS, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"unknown algorithm {name!r}{hint}; choose one of "
                         f"{', '.join(ALGORITHMS)}")
    return algorithm


def _check_sentences(n: int | None, config: Config) -> int:
    n = config.summarizer.sentences if n is None else n
    if n < 1:
        raise InputError(f"--sentences must be at least 1, not {n}")
    if n > _MAX_SENTENCES:
        raise InputError(f"--sentences must be at most {_MAX_SENTENCES}, not {_shown(n)}")
    return n


def _bound(config_class: type, name: str) -> int:
    """The upper bound a config key has, so an option and its config key agree."""
    bound = {f.name: f for f in dataclasses.fields(config_class)}[name].metadata["max"]
    return int(bound)


_MAX_SENTENCES = _bound(SummarizerConfig, "sentences")
_MAX_WORKERS = _bound(SummarizerConfig, "workers")


def _shown(n: int) -> str:
    text = str(n)
    return text if len(text) <= 12 else text[:12] + "…"


def cmd_summarize(args: argparse.Namespace, config: Config) -> int:
    if not args.jsonl and (args.output or args.workers != 1):
        raise InputError("--output and --workers go with --jsonl (summarise records one a line); "
                         "a single summary is printed: redirect it, e.g. > summary.txt")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    if args.workers > _MAX_WORKERS:
        raise InputError(f"--workers must be at most {_MAX_WORKERS}, not {_shown(args.workers)}")
    algorithm = _check_algorithm(args.algorithm, config)
    sentences = _check_sentences(args.sentences, config)
    if args.jsonl:
        return _summarize_jsonl(args, config, algorithm=algorithm, sentences=sentences)
    if re.match(r"(?i)^https?://", args.path):
        draft = asyncio.run(_read_link(args.path, config))
    else:
        data, name, suffix = _read_input(args.path, config)
        draft = parse_bytes(data, name=name, title_limit=config.ingest.title_max_chars,
                            suffix=suffix)
    from bot.summarize import summarize_text

    summary = summarize_text(
        draft.text, title=draft.title, sentences=sentences, algorithm=algorithm,
        language=config.summarizer.language, declared_language=draft.language,
        max_sentence_chars=config.summarizer.max_sentence_chars,
    )
    for sentence in summary:
        print(sentence)
    return 0


async def _read_link(url: str, config: Config) -> ArticleDraft:
    """A web page's article, fetched with every safety rule of `/brief <link>`, stored nowhere
    (the engine runs on an in-memory database for this one read)."""
    from bot.app import open_app

    memory = replace(config, storage=replace(config.storage, path=":memory:", url=""))
    app = await open_app(memory, features=("feeds",))
    try:
        async with app.require_feeds().intake() as intake:
            return await intake.read_page(url)
    finally:
        await app.close()


def _jsonl_records(stream: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, f"line {lineno} is not JSON: {exc.msg}"
            continue
        if not isinstance(record, dict) or not (isinstance(record.get("text"), str)
                                                or isinstance(record.get("html"), str)):
            yield lineno, f'line {lineno} has neither a "text" nor an "html" string'
            continue
        yield lineno, record


def _summarize_record(job: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    from bot.summarize import summarize_text

    record, options = job
    page = {k: options[k] for k in ("min_text_chars", "title_limit")}
    try:
        draft = draft_from_record(record, **page)
        summary = summarize_text(draft.text, title=draft.title, declared_language=draft.language,
                                 **{k: v for k, v in options.items() if k not in page})
    except BriefbotError as exc:
        return {"id": record.get("id"), "summary": [], "error": str(exc)}
    except Exception as exc:  # one bad record never stops the rest of the batch
        log.debug("summarising record %r failed", record.get("id"), exc_info=True)  # -v
        return {"id": record.get("id"), "summary": [],
                "error": f"could not summarise it (internal error: {type(exc).__name__})"}
    if "html" in record:
        return {"id": record.get("id"), "title": draft.title, "source": draft.source,
                "summary": list(summary)}
    return {"id": record.get("id"), "summary": list(summary)}


def _done_ids(path: str) -> set[str]:
    """The ids an earlier, interrupted run already wrote to ``path`` (none if no such file)."""
    done: set[str] = set()
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by the interruption: done again
                if isinstance(record, dict) and record.get("id") is not None:
                    done.add(json.dumps(record["id"]))
    except FileNotFoundError:
        pass
    return done


def _count_records(path: str) -> int | None:
    if path == "-":
        return None
    with _open_text(path) as f:
        return sum(1 for line in f if line.strip())


def _summarize_jsonl(args: argparse.Namespace, config: Config, *, algorithm: str,
                     sentences: int) -> int:
    """Summaries of JSON records one a line. With ``--output OUT``, records whose id OUT
    already holds are skipped and the rest appended: an interrupted run continues."""
    options = {
        "sentences": sentences, "algorithm": algorithm, "language": config.summarizer.language,
        "max_sentence_chars": config.summarizer.max_sentence_chars,
        "min_text_chars": config.ingest.min_text_chars,
        "title_limit": config.ingest.title_max_chars,
    }
    done_ids = _done_ids(args.output) if args.output else set()
    total = _count_records(args.jsonl)
    if done_ids:
        print(f"briefbot: {args.output} already holds {len(done_ids)} summaries: those records "
              "are skipped and the rest appended (delete the file to start over)",
              file=sys.stderr)
    hint = ("run the same command to continue" if args.output else
            "with --output FILE, running the same command again continues where it stopped")
    with contextlib.ExitStack() as stack:
        src: TextIO = (sys.stdin if args.jsonl == "-" else
                       stack.enter_context(_open_text(args.jsonl)))
        out: TextIO = (stack.enter_context(open(args.output, "a" if done_ids else "w",
                                                encoding="utf-8"))
                       if args.output else sys.stdout)
        progress = stack.enter_context(Progress(
            total, unit="record", order=("summarised", "skipped", "failed"),
            problems=("failed",), item_lines=False, resume_hint=hint))
        pool = (stack.enter_context(ProcessPoolExecutor(args.workers))
                if args.workers > 1 else None)

        def jobs() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
            for _lineno, record in _jsonl_records(src):
                if isinstance(record, str):
                    progress.item(record, "failed", f"briefbot: {record}")
                    continue
                if done_ids and json.dumps(record.get("id")) in done_ids:
                    progress.item(str(record.get("id")), "skipped")
                    continue
                yield record, options

        results = (pool.map(_summarize_record, jobs(), chunksize=8) if pool
                   else map(_summarize_record, jobs()))
        for result in results:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
            if "error" in result:
                progress.item(str(result.get("id")), "failed",
                              f"briefbot: record {result.get('id')!r}: {result['error']}")
            else:
                progress.item(str(result.get("id")), "summarised")
    return EXIT_ERROR if progress.counts["failed"] else 0


def _open_text(path: str) -> TextIO:
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


# -- engine commands ----------------------------------------------------------------------


# what a folder stands for (README: "every .txt/.html in it"): plain text and HTML, not
# Markdown (a folder's README.md is no article); a file named on its own is read whatever
# its name
_ARTICLE_SUFFIXES = frozenset({".txt", ".text", ".html", ".htm", ".xhtml"})
_DATE_WORD = re.compile(rb"\A\s*date\s+(\S+)", re.IGNORECASE)


def _date_warning(path: str) -> str | None:
    """A warning when a plain-text file opens with ``date`` but no readable YYYY-MM-DD."""
    if Path(path).suffix.lower() not in {".txt", ".text", ""}:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(200)
    except OSError:
        return None  # ingest says why it cannot read it
    match = _DATE_WORD.match(head)
    if match is None:
        return None
    published, _ = split_date_header(head.decode("utf-8", "replace"))
    if published is not None:
        return None
    token = match.group(1).decode("utf-8", "replace")[:20]
    return (f"briefbot: warning: {path}: unreadable date {token!r} (write date YYYY-MM-DD, "
            "e.g. date 2022-05-31); it is dated when ingested")


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files as given; a folder stands for the article files under it (sorted, no hidden)."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if not p.is_dir():
            out.append(path)
            continue
        found = sorted(
            f for f in p.rglob("*")
            if f.is_file() and f.suffix.lower() in _ARTICLE_SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(p).parts)
        )
        if not found:
            raise InputError(f"{path} holds no .txt or .html files (nor .text, .htm, .xhtml)")
        out.extend(str(f) for f in found)
    return out


async def cmd_ingest(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    paths = await asyncio.to_thread(expand_paths, args.paths)
    with Progress(len(paths), unit="file", problems=("refused", "not stored"),
                  order=("stored", "already known", "refused", "not stored")) as progress:
        for path in paths:
            if warning := await asyncio.to_thread(_date_warning, path):
                progress.note(warning)
            try:
                result = await engine.ingest_file(path)
            except UserError as exc:
                said = str(exc) if path in str(exc) else f"{path}: {exc}"
                progress.item(path, "refused", f"briefbot: refused {said}")
                continue
            except StoreError as exc:  # a full disk: this file is lost, the batch goes on
                progress.item(path, "not stored", f"briefbot: not stored {path}: {exc}")
                continue
            except Exception as exc:  # one bad file never stops the rest of the folder
                log.debug("ingesting %s failed", path, exc_info=True)  # -v shows where
                progress.item(path, "refused", f"briefbot: {path} was not stored (internal "
                              f"error: {type(exc).__name__}; run with -v for details)")
                continue
            a = result.article
            state = "stored" if result.created else "already known"
            progress.item(path, state, f"{path}\t#{a.id}\t{a.title}\t({state})")
    if progress.counts["not stored"]:
        return EXIT_ERROR
    return EXIT_USER if progress.counts["refused"] else 0


_GLOBAL_OPTIONS = frozenset({"--config", "--db"})
_PLATFORMS = frozenset({"console", "slack", "discord"})


def _brief_words(text: Sequence[str]) -> list[str]:
    """The words after ``briefbot brief``; an option meant for briefbot is explained (checked
    before anything is opened)."""
    words = list(text)
    if words[:1] == ["--"]:  # `briefbot brief -- -5`: the separator is not part of the text
        return words[1:]
    if option := next((w.split("=")[0] for w in words if w.split("=")[0] in _GLOBAL_OPTIONS),
                      None):
        raise InputError(f"{option} goes before `brief` (briefbot {option} ... brief TEXT): "
                         "after it, every word is the /brief text")
    return words


def cli_caller() -> Caller:
    return Caller(platform="console", user_id="console", channel_id="console", is_admin=True)


async def cmd_brief(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    words = list(args.text)  # main() has checked them (_brief_words)
    from adapters.console import ConsoleAdapter

    # `briefbot brief digest now` posts the console channel's digest: here, on standard output
    engine.add_publisher(ConsoleAdapter(engine))
    reply = await engine.handle_command(" ".join(words), cli_caller())
    print(render_text(reply))
    return EXIT_USER if reply.is_error else 0


async def cmd_feeds(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    if args.action == "import":
        return await _import_opml(args, app)
    if args.action == "export":
        return await _export_opml(args, app)
    # no channel: a feed added here is polled for everyone, not tied to the console channel
    caller = Caller(platform="console", user_id="console", is_admin=True)
    text = f"feeds {args.action} {args.target or ''}".strip()
    reply = await engine.handle_command(text, caller)
    print(render_text(reply))
    return EXIT_USER if reply.is_error else 0


async def _import_opml(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    from bot.ingest.opml import ImportOutcome, import_feeds, parse_opml

    if not args.target:
        raise InputError("Import which file? briefbot feeds import FEEDS.opml (an OPML export "
                         "from your feed reader)")
    if args.target == "-":
        data, name = sys.stdin.buffer.read(engine.config.ingest.max_file_bytes + 1), "input"
    else:
        data = await asyncio.to_thread(read_limited, Path(args.target),
                                       max_bytes=engine.config.ingest.max_file_bytes)
        name = args.target
    feeds = parse_opml(data, name=name)
    with Progress(len(feeds), unit="feed",
                  order=("added", "already followed", "refused")) as progress:

        def report(done: ImportOutcome) -> None:
            progress.item(done.feed.url, done.outcome,
                          f"{done.feed.url}\t{done.outcome}" +
                          (f": {done.detail}" if done.detail else ""))

        async with app.require_feeds().intake() as intake:
            outcomes = await import_feeds(intake, feeds, report=report)
    refused = sum(o.outcome == "refused" for o in outcomes)
    if refused:
        print("Run the same command again to retry the refused feeds (feeds already added are "
              "not added twice).", file=sys.stderr)
    return EXIT_USER if refused else 0


async def _export_opml(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    from bot.ingest.opml import write_opml

    feeds = await engine.store.feeds.list_feeds()
    document = write_opml(feeds, now=engine.clock())
    if args.target and args.target != "-":
        await asyncio.to_thread(Path(args.target).write_bytes, document)
        print(f"Exported {len(feeds)} feed{'s' if len(feeds) != 1 else ''} to {args.target}.",
              file=sys.stderr)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
    return 0


async def cmd_poll(args: argparse.Namespace, app: App) -> int:
    from bot.ingest.intake import PollReport

    progress: Progress | None = None
    with contextlib.ExitStack() as stack:

        def start(total: int) -> None:
            nonlocal progress
            if total:
                progress = stack.enter_context(Progress(
                    total, unit="feed", order=("polled", "failed"), problems=("failed",)))

        def report(r: PollReport) -> None:
            lines = [f"#{r.feed_id} {r.feed_name}: {r.summary()}"]
            lines += [f"  #{a.id}\t{a.title}" for a in r.new]
            lines += [f"  skipped: {line}" for line in r.skipped]
            assert progress is not None
            progress.item(r.feed_name, "failed" if r.error else "polled", "\n".join(lines))

        reports = await app.require_feeds().poll_every_feed_once(on_start=start,
                                                                 on_report=report)
    if not reports:
        print("No feeds to poll. Add one with `briefbot feeds add URL` or import an OPML file "
              "with `briefbot feeds import FILE.opml`.")
    return EXIT_USER if any(r.error for r in reports) else 0


async def cmd_stats(args: argparse.Namespace, app: App) -> int:
    from bot.retention import Retention

    engine = app.engine
    store = engine.store
    keep = engine.config.storage.keep_days
    if args.prune:
        if not keep:
            print("[storage] keep_days is 0: nothing is ever deleted.", file=sys.stderr)
            return EXIT_USER
        report = await Retention(store, keep_days=keep, clock=engine.clock).prune_once()
        print(f"removed {report.articles} articles, {report.feed_items} feed items,"
              f" {report.digest_runs} digest runs; {report.bytes_reclaimed / 1e6:.1f} MB"
              " given back")
    articles = await store.articles.count_articles()
    feeds = await store.feeds.list_feeds()
    items = sum(sum(c.values()) for c in (await store.feeds.feed_item_counts()).values())
    size, free = await store.size()
    print(f"database   {store.path}")
    print(f"articles   {articles}")
    print(f"feeds      {len(feeds)} ({items} items seen)")
    print(f"size       {size / 1e6:.1f} MB ({free / 1e6:.1f} MB free for reuse)")
    print(f"retention  {f'{keep} days' if keep else 'keep everything ([storage] keep_days = 0)'}")
    return 0


async def cmd_run(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    adapters = app.adapters(secrets_from_env(platforms=PLATFORMS))
    for adapter in adapters:
        engine.add_publisher(adapter)
    console = getattr(args, "console", None)
    if [a.platform for a in adapters] == ["console"] and (
            console is False or (console is None and not sys.stdin.isatty())):
        # headless: the console still prints console digests and alerts, but reads nothing
        adapters = []
        why = "--no-console" if console is False else "no terminal"
        log.warning("no Slack or Discord token and %s: running headless (polling feeds, "
                    "posting digests, delivering alerts) until Ctrl-C or SIGTERM. Set "
                    "SLACK_BOT_TOKEN or DISCORD_TOKEN to answer /brief in chat.", why)
    elif console is False:
        adapters = [a for a in adapters if a.platform != "console"]
    services: list[Any] = []
    if engine.config.monitoring.listen:
        from bot.monitoring import MonitoringServer

        services.append(MonitoringServer(engine.store.platform, engine.config.monitoring,
                                         adapters=adapters,
                                         loops=[s.name for s in app.services]))
    await app.warm_up()
    names = ", ".join(a.platform for a in adapters) or "headless"
    log.info("briefbot %s running: %s; database %s", __version__, names, engine.store.path)
    tasks = [asyncio.create_task(a.run(), name=f"adapter-{a.platform}") for a in adapters]
    # the monitoring server failing to listen (port taken) stops the bot: said at once
    tasks += [asyncio.create_task(s.run(), name=s.name) for s in services]
    tasks.append(asyncio.create_task(app.run_services(), name="services"))
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    failed = 0
    try:
        # Run until SIGTERM, Ctrl-C, or any adapter ends (the console ends at end of input).
        done, _ = await asyncio.wait([*tasks[:-1], stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                failed = EXIT_USER if isinstance(exc, UserError) else EXIT_ERROR
                # a BriefbotError's message says what to do; a traceback is for bugs only
                log.error("%s stopped: %s", task.get_name(), exc,
                          exc_info=None if isinstance(exc, BriefbotError) else exc)
    finally:
        if stop.is_set():
            # SIGTERM: let the digests and alerts being posted finish and be recorded (bounded)
            # before stopping; the services then release the claims they still hold
            from bot.loop import drain

            await drain(app.services, seconds=getattr(args, "drain_seconds", DRAIN_SECONDS),
                        log=log)
        for task in (*tasks, stopper):
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
        log.info("briefbot stopped")
    return failed


async def cmd_digest(args: argparse.Namespace, app: App) -> int:
    engine = app.engine
    from adapters.console import ConsoleAdapter
    from bot.app import digest_kit
    from bot.digests.build import digest_now
    from bot.models import Destination

    platform, _, channel = args.channel.partition(":") if ":" in args.channel else (
        "console", "", args.channel)
    platform = platform.lower() or "console"
    if not channel:
        raise InputError("--channel needs an id, e.g. --channel C0123 or --channel slack:C0123")
    if platform not in _PLATFORMS:
        raise InputError(f"--channel {args.channel}: unknown platform {platform!r}; use "
                         "slack:ID, discord:ID, or an id alone for a console channel")
    if args.now and platform != "console":
        raise InputError(
            f"--now posts only to console channels from the command line; in {platform} use "
            "/brief digest now in the channel (without --now this prints a preview)"
        )
    engine.add_publisher(ConsoleAdapter(engine))
    destination = Destination(platform=platform, channel_id=channel)
    reply, built = await digest_now(digest_kit(engine), destination=destination, post=args.now,
                                    owner="cli")
    if reply is None:
        since = built.period_start.strftime("%Y-%m-%d %H:%M UTC") if built.period_start else ""
        where = ("the console channel" if (platform, channel) == ("console", "console")
                 else f"{platform} channel {channel}")
        print(f"Nothing new for {where}" + (f" since {since}." if since else "."))
    elif not args.now:
        print(render_text(reply))
    return 0


async def cmd_discord(args: argparse.Namespace, app: App) -> int:
    from adapters.discord_adapter import DiscordAdapter
    from adapters.discord_config import TOKEN
    from adapters.platforms import DISCORD

    token = secrets_from_env(platforms=(DISCORD,)).get(TOKEN)
    if token is None:
        raise UserError("Set DISCORD_TOKEN to the bot token (Developer Portal > Bot).")
    print(await DiscordAdapter(app.engine, token).setup(force_sync=args.force))
    return 0


async def cmd_slack(args: argparse.Namespace, app: App) -> int:
    """Installed workspaces, from the database (no token is shown, nor needed)."""
    from adapters.platforms import SLACK

    platform = app.engine.store.platform
    home = await platform.get_meta("slack.home_team")
    rows = await platform.installed_workspaces(platform="slack")
    print(f"home workspace (its ids are stored bare): {home or 'none yet'}")
    if not rows:
        print("no workspace has installed briefbot with Add to Slack"
              + ("" if SLACK.section(app.config).client_id else " ([slack] client_id is not set)"))
    for enterprise, team in rows:
        data = await platform.find_installation(platform="slack", enterprise_id=enterprise,
                                                team_id=team)
        info = json.loads(data or "{}")
        when = info.get("installed_at")
        day = (datetime.fromtimestamp(float(when), UTC).strftime("%Y-%m-%d %H:%M UTC")
               if isinstance(when, int | float) else "?")
        print(f"{team or enterprise}\t{info.get('team_name') or '?'}\tinstalled {day} by "
              f"{info.get('user_id') or '?'}")
    print("A workspace that removed the app is not listed; its digests and subscriptions are "
          "paused until it installs again.")
    return 0


async def cmd_db_copy(args: argparse.Namespace, config: Config) -> int:
    from bot.store.postgres.copy import copy_database

    env_url = os.environ.get(ENV_DATABASE_URL, "").strip()
    target = args.to or env_url
    if not target or not is_postgres_url(target):
        raise InputError("db copy needs the PostgreSQL database to fill: --to "
                         f"postgresql://host/db (or {ENV_DATABASE_URL})")
    if args.to:
        with_database(config, args.to, where="--to")  # refuses a password on the command line
    source = config.storage.database
    if is_postgres_url(source):  # BRIEFBOT_DATABASE_URL names the target: copy from the file
        source = config.storage.path
    source_path = parse_database(source).path
    shown = parse_database(target).describe()
    print(f"copying {source_path} -> {shown}", file=sys.stderr)

    def progress(table: str, done: int, total: int) -> None:
        if total and (done == total or done % 20_000 == 0):
            print(f"  {table}: {done:,}/{total:,}", file=sys.stderr)

    copied = await copy_database(source_path, target, progress=progress)
    for c in copied:
        print(f"{c.table}\t{c.rows}")
    print(f"done: {sum(c.rows for c in copied):,} rows copied into {shown}; run briefbot with "
          f"{ENV_DATABASE_URL} set to it", file=sys.stderr)
    return 0


ENGINE_COMMANDS = {"ingest": cmd_ingest, "brief": cmd_brief, "run": cmd_run, "digest": cmd_digest,
                   "feeds": cmd_feeds, "poll": cmd_poll, "stats": cmd_stats, "discord": cmd_discord,
                   "slack": cmd_slack}


async def _with_app(args: argparse.Namespace, config: Config) -> int:
    from bot.app import open_app

    app = await open_app(config)
    try:
        choice: DatabaseChoice | None = getattr(args, "database", None)
        if choice is not None and choice.legacy:
            await _legacy_notice_once(app.engine, choice)
        return await ENGINE_COMMANDS[args.command](args, app)
    finally:
        await app.close()


async def _legacy_notice_once(engine: BriefingEngine, choice: DatabaseChoice) -> None:
    key = "datahome.legacy_notice"
    if await engine.store.platform.get_meta(key) is None:
        print(legacy_notice(choice), file=sys.stderr)
        await engine.store.platform.set_meta(key, "said", now=engine.clock())


def _config_file(args: argparse.Namespace) -> str | None:
    return args.config or os.environ.get(ENV_CONFIG) or None


def _configure(args: argparse.Namespace) -> Config:
    config = load_config(args.config, platforms=PLATFORMS)
    cli_db = args.db
    if args.db and (is_postgres_url(args.db) or args.db.lower().startswith("sqlite://")):
        config = with_database(config, args.db)  # a URL: wins over BRIEFBOT_DATABASE_URL
        cli_db = None
    elif args.db:  # a path given here wins over BRIEFBOT_DATABASE_URL too
        config = replace(config, storage=replace(config.storage, url=""))
    choice = choose_database(cli_db=cli_db, configured=config.storage.path,
                             config_file=_config_file(args))
    args.database = choice
    return replace(config, storage=replace(config.storage, path=choice.path))


def _where(args: argparse.Namespace, config: Config | None) -> list[str]:
    """``config: ...`` and ``database: ...`` lines: what this command uses, and why."""
    file = _config_file(args)
    lines = [f"config: {file}" if file else "config: none (built-in defaults; --config FILE "
             f"or {ENV_CONFIG} names one)"]
    url = config.storage.url if config is not None else ""
    if url and is_postgres_url(url):  # a PostgreSQL URL wins over every SQLite path
        origin = ("--db" if args.db and is_postgres_url(args.db) else
                  ENV_DATABASE_URL if os.environ.get(ENV_DATABASE_URL, "").strip() else
                  "[storage] url")
        lines.append(f"database: {parse_database(url).describe()} ({origin})")
        return lines
    choice: DatabaseChoice | None = getattr(args, "database", None)
    if choice is not None:
        exists = "" if Path(choice.path).exists() else ", not created yet"
        lines.append(f"database: {choice.path} ({choice.origin}{exists})")
    return lines


def _print_version(args: argparse.Namespace) -> int:
    print(f"briefbot {__version__}")
    try:
        config: Config | None = _configure(args)
    except BriefbotError as exc:
        config = None
        print(f"config: {_config_file(args)}: {exc}")
    for line in _where(args, config)[0 if config is not None else 1:]:
        print(line)
    return 0


async def cmd_status(args: argparse.Namespace, config: Config) -> int:
    print(f"briefbot {__version__}")
    for line in _where(args, config):
        print(line)
    from bot.store.backends import open_database
    from bot.store.ports import Store

    store: Store
    if is_postgres_url(config.storage.url):
        # the server answers (or one line says why not: host, database, never the password)
        store = await open_database(config.storage.url, pool_size=1)
        size = (await store.size())[0]
    else:
        found = await asyncio.to_thread(_database_size, config.storage.path)
        if found is None:
            print("The database does not exist yet: `briefbot ingest FILE`, `briefbot feeds "
                  "add URL` or `briefbot run` creates it.")
            return 0
        size = found
        store = await open_database(config.storage.path,
                                    busy_timeout_ms=config.storage.busy_timeout_ms)
    try:
        articles = await store.articles.count_articles()
        feeds = await store.feeds.list_feeds()
        subscriptions = len(await store.alerts.subscription_ids())
    finally:
        await store.close()
    failing = sum(1 for f in feeds if f.consecutive_failures)
    print(f"size: {_human_bytes(size)}")
    print(f"articles: {articles}")
    print(f"feeds: {len(feeds)}" + (f" ({failing} failing)" if failing else ""))
    print(f"alert subscriptions: {subscriptions}")
    print("(`briefbot stats` shows what retention keeps and frees.)")
    return 0


def _database_size(path: str) -> int | None:
    """Bytes on disk of the SQLite file and its write-ahead log; None if there is none."""
    files = [Path(path), Path(f"{path}-wal")]
    if not files[0].is_file():
        return None
    return sum(f.stat().st_size for f in files if f.is_file())


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _unknown_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The first word that should be a command and is none, with a did-you-mean."""
    commands = set(_subcommands(parser))
    words = iter(argv)
    for word in words:
        if word in ("--config", "--db"):
            next(words, None)
            continue
        if word.startswith("-"):
            continue
        if word in commands:
            return None
        close = difflib.get_close_matches(word, sorted(commands), n=1, cutoff=0.6)
        hint = f" (did you mean `briefbot {close[0]}`?)" if close else ""
        return (f"briefbot: unknown command {word!r}{hint}; commands: "
                f"{', '.join(_subcommands(parser))}. `briefbot --help` says what each does.")
    return None


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if (unknown := _unknown_command(parser, argv)) is not None:
        print(unknown, file=sys.stderr)
        return EXIT_USER
    args = parser.parse_args(argv)
    try:
        if args.version:
            return _print_version(args)
        if args.command is None:  # `briefbot` alone: what it can do
            parser.print_help()
            return 0
        if args.command == "brief":
            args.text = _brief_words(args.text)
        config = _configure(args)
        # One-shot commands stay quiet on stderr; `run` logs at the configured level.
        level = (logging.DEBUG if args.verbose else
                 getattr(logging, config.logging.level) if args.command == "run" else
                 logging.WARNING)
        configure_logging(level=level, fmt=config.logging.format, stream=sys.stderr)
        for line in _where(args, config) if args.verbose else ():
            log.info("%s", line)
        if args.command == "db":
            return asyncio.run(cmd_db_copy(args, config))
        if args.command == "summarize":
            return cmd_summarize(args, config)
        if args.command == "status":
            return asyncio.run(cmd_status(args, config))
        return asyncio.run(_with_app(args, config))
    except UserError as exc:
        print(f"briefbot: {exc}", file=sys.stderr)
        return EXIT_USER
    except BriefbotError as exc:
        print(f"briefbot: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # the system refused something (a database folder that cannot be created, a host
        # that cannot be reached): one line saying what, never a traceback
        log.debug("stopped by an OS error", exc_info=True)  # -v shows where
        where = getattr(exc, "filename", None)
        text = f"{exc.strerror}: {where}" if exc.strerror and where else str(exc)
        print(f"briefbot: error: {text}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        remove_logging()
