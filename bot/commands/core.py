"""The core verbs: help, the latest briefing, one article, a topic search."""

from __future__ import annotations

from bot.commands.router import VERBS, Context, fallback, verb
from bot.engine import to_item
from bot.errors import UserError
from bot.models import Reply

_EMPTY_STORE = (
    "Nothing is stored yet. Add articles with `briefbot ingest FILE`, paste a link "
    "(`/brief https://...`) or add a feed (`/brief feeds add URL`)."
)


@verb("help", usage="/brief help", summary="this help", aliases=("?", "-h", "--help"))
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
    for v in VERBS.values():
        if v.name in seen or v.name == "help":
            continue
        seen.add(v.name)
        lines.append(f"{v.usage}  {v.summary}")
    lines.append("Add `public` at the end to post the answer in the channel.")
    return ctx.answer("\n".join(lines), ephemeral=True)


@fallback("empty")
async def latest_briefing(ctx: Context, args: str) -> Reply:
    articles = await ctx.engine.latest()
    if not articles:
        return ctx.answer(_EMPTY_STORE)
    n = len(articles)
    return ctx.answer(
        f"Latest briefing: the {n} newest article{'s' if n != 1 else ''}.",
        items=tuple(to_item(a) for a in articles),
    )


@fallback("number")
async def one_article(ctx: Context, args: str) -> Reply:
    article = await ctx.engine.article(int(args))
    if article is None:
        raise UserError(f"There is no article #{args}. `/brief` shows the latest ones.")
    return ctx.answer(items=(to_item(article),))


@verb("search", usage="/brief search <words>",
      summary="search stored articles (also /brief <words>)")
@fallback("words")
async def topic_briefing(ctx: Context, args: str) -> Reply:
    if not args:
        raise UserError("Search for what? Try `/brief search rocket systems`.")
    articles = await ctx.engine.search(args)
    if not articles:
        hint = ""
        suggestions = await ctx.engine.store.suggest_terms(args)
        if suggestions:
            hint = " Did you mean: " + ", ".join(suggestions) + "?"
        return ctx.answer(f"Nothing found for “{args}”.{hint}")
    n = len(articles)
    return ctx.answer(
        f"Briefing on “{args}”: {n} article{'s' if n != 1 else ''}, best matches first.",
        items=tuple(to_item(a) for a in articles),
    )
