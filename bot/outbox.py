"""The message a claim delivers, kept in the database until every part of it is posted.

Why it exists: a digest or a batch of alerts is claimed, posted, then recorded. A process that
stops between the platform accepting a post and the record leaves the claim to be retried,
after its lease, by any process; a retry that rebuilt the message could post a different one
(new articles since), and one that posted it whole again would repeat what was already posted.
So before the first post the feature stores the message under a key derived from its claim
(:func:`begin`): a retry gets the stored message back, with the feature's note of what it
covers, and the publisher (``adapters/delivery.py``) posts only the parts the database does not
record as accepted; the part that may have been accepted without being recorded is settled by
the platform (Discord's message nonce, Slack's message metadata).

:func:`reply_to_json` / :func:`reply_from_json` are the stored form of a :class:`Reply`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.models import Destination, Item, Reply, ReplyKind
from bot.store.ports import Delivery, NewDelivery, PlatformStateStore

__all__ = ["Begun", "begin", "begin_many", "reply_from_json", "reply_to_json"]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def reply_to_json(reply: Reply) -> str:
    """The stored form of ``reply`` (its delivery key is the row's own key, not stored)."""
    head = json.dumps({"text": reply.text, "kind": reply.kind.value,
                       "ephemeral": reply.ephemeral, "footer": reply.footer},
                      ensure_ascii=False, separators=(",", ":"))
    # what json.dumps of the whole gives, each item's part made once (a digest pass shows
    # the same items in many channels' digests)
    return f'{head[:-1]},"items":[{",".join(map(_item_json, reply.items))}]}}'


# each Item's stored form, by identity (Item objects are immutable); cleared when full
_ITEMS: dict[int, tuple[Item, str]] = {}
_ITEMS_KEPT = 4096


def _item_json(item: Item) -> str:
    found = _ITEMS.get(id(item))
    if found is not None and found[0] is item:
        return found[1]
    text = json.dumps({"title": item.title, "url": item.url, "source": item.source,
                       "published_at": _time(item.published_at), "summary": list(item.summary),
                       "article_id": item.article_id, "note": item.note},
                      ensure_ascii=False, separators=(",", ":"))
    if len(_ITEMS) >= _ITEMS_KEPT:
        _ITEMS.clear()
    _ITEMS[id(item)] = (item, text)
    return text


def reply_from_json(raw: str) -> Reply:
    data: dict[str, Any] = json.loads(raw)
    items = tuple(
        Item(title=i["title"], url=i.get("url"), source=i.get("source"),
             published_at=(None if i.get("published_at") is None
                           else datetime.fromisoformat(i["published_at"])),
             summary=tuple(i.get("summary") or ()), article_id=i.get("article_id"),
             note=i.get("note") or "")
        for i in data.get("items") or ())
    return Reply(text=data.get("text") or "", items=items, kind=ReplyKind(data["kind"]),
                 ephemeral=bool(data.get("ephemeral")), footer=data.get("footer") or "")


@dataclass(frozen=True, slots=True)
class Begun:
    """What to post for a claim: ``reply`` (with its delivery key) and the ``note`` stored with
    it; ``resumed`` when an earlier attempt had begun it (then both are that attempt's)."""

    reply: Reply
    note: str
    resumed: bool


async def begin(platform: PlatformStateStore, *, key: str, destination: Destination,
                reply: Reply, note: str, now: datetime) -> Begun:
    """Store ``reply`` for the claim ``key`` unless an earlier attempt stored one: that one is
    delivered instead (see the module docstring)."""
    stored = await platform.begin_delivery(
        key, platform=destination.platform, destination=_where(destination),
        reply=reply_to_json(reply), note=note, now=now)
    return _begun(key, reply, note, stored)


async def begin_many(platform: PlatformStateStore,
                     messages: list[tuple[str, Destination, Reply, str]], *,
                     now: datetime) -> list[Begun]:
    """:func:`begin` for each ``(key, destination, reply, note)``, in one trip to the
    database (a digest pass begins a batch of digests together)."""
    stored = await platform.begin_deliveries(
        [NewDelivery(key=key, platform=where.platform, destination=_where(where),
                     reply=reply_to_json(reply), note=note)
         for key, where, reply, note in messages], now=now)
    return [_begun(key, reply, note, s)
            for (key, _, reply, note), s in zip(messages, stored, strict=True)]


def _where(destination: Destination) -> str:
    if destination.is_direct:
        return f"user:{destination.user_id}"
    return f"channel:{destination.channel_id}"


def _begun(key: str, reply: Reply, note: str, stored: Delivery) -> Begun:
    if not stored.resumed:
        return Begun(reply if reply.delivery_key == key else replace(reply, delivery_key=key),
                     note, False)
    return Begun(replace(reply_from_json(stored.reply), delivery_key=key), stored.note, True)
