"""The core verbs: help, the latest briefing, one article, a topic search."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import partial

from bot.commands.router import Commands, Context
from bot.config import BriefConfig
from bot.errors import UserError, inert
from bot.models import Article, Reply
from bot.render import to_item
from bot.store.ports import ArticleStore
from bot.text import stop_words, words


@dataclass(frozen=True, slots=True)
class Reading:
    """What the core verbs use: the stored articles, ``[brief]`` and the summarizer's
    language (whose stop words a topic search refuses alone)."""

    articles: ArticleStore
    brief: BriefConfig
    language: str

    async def latest(self, limit: int | None = None) -> list[Article]:
        return await self.articles.latest_articles(limit or self.brief.latest_count)

    async def search(self, text: str, limit: int | None = None) -> list[Article]:
        return await self.articles.search_articles(text,
                                                   limit=limit or self.brief.search_results)


def register(commands: Commands, *, reading: Reading) -> None:
    """help, search, and what text that is no verb means: latest, one article, a topic."""
    commands.add_verb("help", help_verb, usage="/brief help", summary="this help",
                      aliases=("?", "-h", "--help"))
    commands.add_verb("search", partial(topic_briefing, reading), usage="/brief search <words>",
                      summary="search stored articles (also /brief <words>)")
    commands.add_fallback("empty", partial(latest_briefing, reading))
    commands.add_fallback("number", partial(one_article, reading))
    commands.add_fallback("words", partial(words_briefing, reading))


_POSSESSIVE = re.compile(r"['’]s?$")
_EMPTY_STORE = (
    "Nothing is stored yet. Add articles with `briefbot ingest FILE`, paste a link "
    "(`/brief https://...`) or add a feed (`/brief feeds add URL`)."
)


async def help_verb(ctx: Context, args: str) -> Reply:
    lines = [
        "briefbot keeps this team briefed on the news.",
        "",
        "/brief  the latest briefing (newest articles with their summaries)",
        "/brief <words>  a briefing on a topic, best matches first",
        "/brief <number>  one stored article",
        "/brief <link>  fetch, summarise and store an article",
    ]
    seen: set[str] = set()
    for v in ctx.verbs.values():
        if v.name in seen or v.name == "help":
            continue
        seen.add(v.name)
        lines.append(f"{v.usage}  {v.summary}")
    lines.append("Add `public` at the end to post the answer in the channel.")
    return ctx.answer("\n".join(lines), ephemeral=True)


async def latest_briefing(reading: Reading, ctx: Context, args: str) -> Reply:
    articles = await reading.latest()
    if not articles:
        return ctx.answer(_EMPTY_STORE)
    n = len(articles)
    return ctx.answer(
        f"Latest briefing: the {n} newest article{'s' if n != 1 else ''}.",
        items=tuple(to_item(a) for a in articles),
    )


async def one_article(reading: Reading, ctx: Context, args: str) -> Reply:
    article = await reading.articles.get_article(int(args))
    if article is None:
        raise UserError(f"There is no article #{args}. `/brief` shows the latest ones.")
    return ctx.answer(items=(to_item(article),))


async def words_briefing(reading: Reading, ctx: Context, args: str) -> Reply:
    """A topic briefing; when the first word is a typo of a verb (``/brief subscirbe rocket``,
    ``/brief feed add URL``), the answer also says which command was probably meant."""
    return await _topic(reading, ctx, args, verb_hint=True)


async def topic_briefing(reading: Reading, ctx: Context, args: str) -> Reply:
    return await _topic(reading, ctx, args, verb_hint=False)


async def _topic(reading: Reading, ctx: Context, args: str, *, verb_hint: bool) -> Reply:
    if not args:
        raise UserError("Search for what? Try `/brief search rocket systems`.")
    stop = stop_words(reading.language)
    # a quoted phrase ("The Who") and an acronym (US, IT) are meant as typed
    typed = [] if any(q in args for q in "\"“”") else [
        w.lower() for w in words(args) if not (w.isupper() and len(w) > 1)] or ["-"]
    if typed and all(w in stop or _POSSESSIVE.sub("", w) in stop for w in typed):
        # "the" is in every article: any answer would be arbitrary
        raise UserError(f"{_echo(args)} has only common words (like “{typed[0]}”), which are "
                        "in almost every article: search for what the story is about, e.g. "
                        "`/brief search rocket systems`.")
    articles = await reading.search(args)
    meant = await _meant_verb(reading, ctx, args, found=bool(articles)) if verb_hint else ""
    if not articles and not await reading.latest(1):
        return ctx.answer(_EMPTY_STORE)  # not "nothing found": nothing is stored at all
    if not articles:
        hint = ""
        suggestions = [] if meant else await reading.articles.suggest_terms(args)
        if suggestions:
            hint = " Did you mean: " + ", ".join(suggestions) + "?"
        return ctx.answer(f"Nothing found for {_echo(args)}.{hint}{meant}")
    n = len(articles)
    return ctx.answer(
        f"Briefing on {_echo(args)}: {n} article{'s' if n != 1 else ''}, best matches "
        f"first.{meant}",
        items=tuple(to_item(a) for a in articles),
    )


_ECHO_CHARS = 80


def _echo(text: str) -> str:
    """The searched words as the answer repeats them, in quotes: a pasted paragraph is cut at
    a word; a search that is one quoted phrase keeps its own quotes (not “"interest rates"”)."""
    if len(text) > _ECHO_CHARS:
        text = text[:_ECHO_CHARS].rsplit(" ", 1)[0].rstrip() + "…"
    inner = inert(text.strip())  # shown as typed: no mention, no markdown, no masked link
    if len(inner) >= 2 and inner[0] in "\"“" and inner[-1] in "\"”" and not any(
            q in inner[1:-1] for q in "\"“”"):
        return f"“{inner[1:-1]}”"
    if any(q in inner for q in "\"“”"):
        return inner  # its own quotes say where the phrase is
    return f"“{inner}”"


async def _meant_verb(reading: Reading, ctx: Context, args: str, *, found: bool) -> str:
    """" `feed` is not a command: did you mean ...?" when the first word is close to a verb."""
    first, _, rest = args.partition(" ")
    names = sorted({v.name for v in ctx.verbs.values() if v.name.isalpha()})
    close = difflib.get_close_matches(first.lower(), names, n=1, cutoff=0.8)
    if not close:
        return ""
    # the word is in stored articles (in some form): a real search, not a typo
    if found and await reading.search(first, limit=1):
        return ""
    meant = f"/brief {close[0]} {rest}".strip()
    return (f"\n`{inert(first)}` is not a command: did you mean `{inert(meant)}`? "
            "`/brief help` lists every command.")
