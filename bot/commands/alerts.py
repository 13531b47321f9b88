"""The alert verbs: ``/brief subscribe [channel] <query>``, ``/brief unsubscribe <id>``,
``/brief alerts``, ``/brief alerts test <query>`` and ``/brief alerts resume [id]``.

Queries are echoed in their canonical reading (words, quotes, parentheses and operators only),
never as typed, so nothing a user types can ping anyone. Whose subscription is whose, and who
may change a channel's, is :mod:`bot.alerts.subscriptions`' rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from bot.alerts import subscriptions
from bot.alerts.service import AlertService
from bot.clock import Clock
from bot.commands.router import Commands, Context
from bot.config import AlertsConfig
from bot.errors import UserError
from bot.models import Reply
from bot.render import format_time, to_item
from bot.store.ports import AlertStats, AlertStore, OwnerKind, Subscription

_SYNTAX = (
    "Words match whole words in any form (rocket: rockets), \"quotes\" exact words in order, "
    "-word excludes, OR gives alternatives, title:word looks only in titles, ( ) groups. "
    "Example: `/brief subscribe \"rocket systems\" Ukraine -opinion`."
)
_ID = re.compile(r"^#?(\d{1,12})$")
_QUOTED = re.compile(r"[\"“”„‟″«»][^\"“”„‟″«»]*[\"“”„‟″«»]?")
_OPERATOR_WORD = re.compile(r"(?<![^\s(])(or|and|not)(?![^\s)])", re.IGNORECASE)


def _operator_hint(query: str) -> str:
    """A note when the query holds ``or``/``and``/``not`` not in capitals: those are looked
    for as words, which is rarely what was meant."""
    words = {m.group(1) for m in _OPERATOR_WORD.finditer(_QUOTED.sub(" ", query))
             if m.group(1) != m.group(1).upper()}
    if not words:
        return ""
    shown = ", ".join(f"`{w}`" for w in sorted(words))
    return (f" Note: {shown} not in capitals is looked for as a word; operators are written "
            "OR, AND, NOT.")


@dataclass(frozen=True, slots=True)
class AlertDesk:
    """What the alert verbs use: the alert service (query language, trials), the
    subscriptions repository, ``[alerts]`` and the clock."""

    service: AlertService
    alerts: AlertStore
    settings: AlertsConfig
    clock: Clock


def _sub_id(args: str, usage: str) -> int:
    match = _ID.match(args.strip())
    if match is None:
        raise UserError(usage)
    return int(match.group(1))


async def subscribe(desk: AlertDesk, ctx: Context, args: str) -> Reply:
    kind: OwnerKind = "user"
    first, _, rest = args.partition(" ")
    if first.lower() == "channel":
        kind, args = "channel", rest.strip()
    if not args:
        raise UserError(f"Subscribe to what? {_SYNTAX}")
    compiled = desk.service.compile(args)
    done = await subscriptions.subscribe(
        desk.alerts, ctx.caller, kind, compiled, language=desk.service.language,
        now=desk.clock(), limit=desk.settings.max_per_owner)
    sub = done.subscription
    where = "you by direct message" if kind == "user" else "this channel"
    if done.status == "resumed":
        return ctx.answer(f"Resumed #{sub.id} `{compiled.canonical}`: it was paused because its "
                          f"alerts could not be delivered; it alerts {where} again.")
    if done.status == "duplicate":
        return ctx.answer(f"Already subscribed: #{sub.id} `{compiled.canonical}` alerts {where}.")
    warning = ""
    if done.paused:
        paused = done.paused
        ids = ", ".join(f"#{s.id}" for s in paused)
        warning = (f" Note: {ids} {'is' if len(paused) == 1 else 'are'} paused because alerts "
                   f"to {where} could not be delivered ({(paused[0].paused_reason or '')[:200]}"
                   "); once they can arrive, `/brief alerts resume`.")
    return ctx.answer(
        f"Subscribed #{sub.id}: I'll alert {where} when a new article matches "
        f"`{compiled.canonical}`. Try it on stored articles with "
        f"`/brief alerts test {compiled.canonical}`; stop with `/brief unsubscribe {sub.id}`."
        + _operator_hint(compiled.text) + warning)


async def unsubscribe(desk: AlertDesk, ctx: Context, args: str) -> Reply:
    sub_id = _sub_id(args, "Unsubscribe from which? Give its number: `/brief unsubscribe 12` "
                           "(`/brief alerts` lists them).")
    sub = await subscriptions.unsubscribe(desk.alerts, ctx.caller, sub_id)
    shown = desk.service.compile_shown(sub.query)
    return ctx.answer(f"Unsubscribed #{sub_id} `{shown}`: no more alerts from it.")


def _line(sub: Subscription, stats: AlertStats | None, shown: str, *,
          from_terminal: bool = False) -> str:
    parts = [f"#{sub.id} `{shown}`"]
    if sub.paused_at is not None:
        reason = (sub.paused_reason or "the platform refused the message").rstrip(".")
        parts.append(f"PAUSED since {format_time(sub.paused_at)}: alerts could not be "
                     f"delivered ({reason})")
    if stats is None or not (stats.sent or stats.pending or stats.failed or stats.skipped):
        parts.append("no alerts yet")
    else:
        sent = f"{stats.sent} alert{'s' if stats.sent != 1 else ''} sent"
        if stats.last_sent_at is not None:
            sent += f", last {format_time(stats.last_sent_at)}"
        parts.append(sent)
        if stats.pending:
            # from a terminal nothing delivers them until the bot runs: say so
            parts.append(f"{stats.pending} waiting" + (
                " (`briefbot run` delivers them)" if from_terminal else ""))
        if stats.failed or stats.skipped:
            parts.append(f"{stats.failed + stats.skipped} could not be delivered")
    return " · ".join(parts)


async def alerts_verb(desk: AlertDesk, ctx: Context, args: str) -> Reply:
    first, _, rest = args.partition(" ")
    if first.lower() == "test":
        return await _test(desk, ctx, rest.strip())
    if first.lower() == "resume":
        return await _resume(desk, ctx, rest.strip())
    if first.lower() not in ("", "list"):
        raise UserError("Use `/brief alerts` to list alerts, `/brief alerts test <query>` "
                        "to try a query or `/brief alerts resume` to resume paused ones.")
    alerts = desk.alerts
    mine = await alerts.subscriptions_of(platform=ctx.caller.platform, owner_kind="user",
                                         owner_id=ctx.caller.user_id)
    channel = (await alerts.subscriptions_of(platform=ctx.caller.platform,
                                             owner_kind="channel",
                                             owner_id=ctx.caller.channel_id)
               if ctx.caller.channel_id else [])
    if not mine and not channel:
        return ctx.answer(
            "No alerts here yet. Subscribe with `/brief subscribe <query>` (or "
            f"`/brief subscribe channel <query>` for this channel). {_SYNTAX}")
    stats = await alerts.alert_stats([s.id for s in (*mine, *channel)])
    lines: list[str] = []
    for title, subs in (("Your alerts (by direct message):", mine),
                        ("This channel's alerts:", channel)):
        if subs:
            if lines:
                lines.append("")
            lines.append(title)
            lines.extend(_line(s, stats.get(s.id), desk.service.compile_shown(s.query),
                               from_terminal=ctx.caller.platform == "console")
                         for s in subs)
    lines.append("")
    lines.append("`/brief unsubscribe <id>` stops one; `/brief alerts test <query>` tries one.")
    if any(s.paused for s in (*mine, *channel)):
        lines.append("Paused alerts match nothing until resumed: once they can be delivered "
                     "again (DMs open, the bot back in the channel), `/brief alerts resume`.")
    return ctx.answer("\n".join(lines))


async def _resume(desk: AlertDesk, ctx: Context, args: str) -> Reply:
    """Resume paused subscriptions: one by id, else the caller's own and (for someone who
    may manage them) this channel's."""
    sub_id = _sub_id(args, "Resume which? `/brief alerts resume` resumes all your paused "
                           "alerts, `/brief alerts resume 12` one of them.") if args else None
    resumed = await subscriptions.resume(desk.alerts, ctx.caller, sub_id)
    if not resumed and sub_id is not None:
        return ctx.answer(f"#{sub_id} is not paused: it alerts as usual.")
    if not resumed:
        return ctx.answer("Nothing to resume: none of your alerts (or this channel's) is "
                          "paused.")
    ids = ", ".join(f"#{i}" for i in sorted(resumed))
    return ctx.answer(f"Resumed {ids}: new matching articles alert again.")


async def _test(desk: AlertDesk, ctx: Context, query: str) -> Reply:
    if not query:
        raise UserError(f"Test which query? {_SYNTAX}")
    limit = desk.settings.max_per_message
    result = await desk.service.try_query(query, limit=limit)
    shown = result.query.canonical
    hint = _operator_hint(result.query.text)
    if not result.scanned:
        return ctx.answer("Nothing is stored yet to test against.")
    if not result.total:
        return ctx.answer(f"No stored article matches `{shown}` (checked the newest "
                          f"{result.scanned}).{hint}")
    more = f"; the newest {len(result.matches)} below" if result.total > len(result.matches) else ""
    return ctx.answer(
        f"`{shown}` matches {result.total} of the newest {result.scanned} stored articles"
        f"{more}, newest first.{hint}",
        items=tuple(to_item(article, sentences=desk.settings.summary_sentences,
                            note="matched: " + ", ".join(terms))
                    for article, terms in result.matches))


def register(commands: Commands, *, desk: AlertDesk) -> None:
    """subscribe, unsubscribe and alerts."""
    commands.add_verb("subscribe", partial(subscribe, desk),
                      usage="/brief subscribe [channel] <query>",
                      summary="alert me (or this channel) when a new article matches the query")
    commands.add_verb("unsubscribe", partial(unsubscribe, desk),
                      usage="/brief unsubscribe <id>", summary="stop one of your alerts")
    commands.add_verb("alerts", partial(alerts_verb, desk),
                      usage="/brief alerts [test <query> | resume [id]]",
                      summary="list your alerts and this channel's; test a query on stored "
                              "articles; resume paused alerts")
