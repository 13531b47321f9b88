"""Match one article against any number of alert queries at a cost that does not grow with
their number: each query is filed under the terms of which any match must contain at least one
(its rarest required term, or one per ``OR`` branch), so an article only evaluates the queries
filed under its own words.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from bot.alerts.query import Analyzer, CompiledQuery, Document, analyzer_for

__all__ = ["SubscriptionIndex"]

class SubscriptionIndex:
    """Matches one article against every registered query in time independent of their count.

    Queries are filed under their anchor keys; an article's keys select the few that can
    match, and only those are evaluated. Safe to use from a worker thread while the event loop
    adds or removes queries (one lock; ``match`` holds it for a few milliseconds).
    """

    def __init__(self, *, language: str = "english") -> None:
        self.language = language
        self._queries: dict[int, CompiledQuery] = {}
        self._by_anchor: dict[str, dict[int, CompiledQuery]] = {}
        self._pair_anchors = 0  # anchors that are "a b" pairs: articles then list theirs
        self._pair_heads: dict[str, int] = {}  # the first words of those pairs, how many
        self._lock = threading.Lock()
        self._version = 0  # one more at every change of the queries

    @property
    def analyzer(self) -> Analyzer:
        """The language's analyzer, built at first use (it loads Sumy's stemmer: an app that
        only reads the store never needs it)."""
        return analyzer_for(self.language)

    def __len__(self) -> int:
        return len(self._queries)

    def __contains__(self, key: object) -> bool:
        return key in self._queries

    @property
    def version(self) -> int:
        """Changes whenever a query is added or removed: a match made at one version holds
        while the version is the same."""
        return self._version

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._queries)

    def add(self, key: int, query: CompiledQuery) -> None:
        if query.language != self.language:
            raise ValueError(f"query language {query.language} is not {self.language}")
        with self._lock:
            self._discard(key)
            self._version += 1
            self._queries[key] = query
            for anchor in query.anchors:
                self._by_anchor.setdefault(anchor, {})[key] = query
                if " " in anchor:
                    self._pair_anchors += 1
                    head = anchor.split(" ", 1)[0]
                    self._pair_heads[head] = self._pair_heads.get(head, 0) + 1

    def add_many(self, items: Iterable[tuple[int, CompiledQuery]]) -> None:
        for key, query in items:
            self.add(key, query)

    def discard(self, key: int) -> None:
        with self._lock:
            self._discard(key)

    def _discard(self, key: int) -> None:
        old = self._queries.pop(key, None)
        if old is None:
            return
        self._version += 1
        for anchor in old.anchors:
            if " " in anchor:
                self._pair_anchors -= 1
                head = anchor.split(" ", 1)[0]
                if self._pair_heads[head] <= 1:
                    del self._pair_heads[head]
                else:
                    self._pair_heads[head] -= 1
            bucket = self._by_anchor.get(anchor)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._by_anchor[anchor]

    def candidates(self, doc: Document) -> dict[int, CompiledQuery]:
        found: dict[int, CompiledQuery] = {}
        by_anchor = self._by_anchor
        anchors = by_anchor.keys()
        # the anchors among the article's keys (set operations: no loop over every word's
        # keys); the candidates' order does not matter (matches are sorted)
        for key in (anchors & doc.title.keys) | (anchors & doc.body.keys):
            found.update(by_anchor[key])
        if self._pair_anchors:
            # only the article's pairs that start with the first word of a pair anchor
            for pair in doc.pairs_from(self._pair_heads):
                bucket = by_anchor.get(pair)
                if bucket:
                    found.update(bucket)
        return found

    def match(self, *, title: str, text: str) -> list[tuple[int, tuple[str, ...]]]:
        """(query id, matched terms) for every query the article matches, by id."""
        return self.match_document(self.analyzer.analyze(title=title, text=text))

    def match_document(self, doc: Document) -> list[tuple[int, tuple[str, ...]]]:
        return self.match_at(doc)[1]

    def match_at(self, doc: Document) -> tuple[int, list[tuple[int, tuple[str, ...]]]]:
        """(the index's :attr:`version`, :meth:`match_document`) taken together."""
        out: list[tuple[int, tuple[str, ...]]] = []
        with self._lock:
            version = self._version
            for key, query in self.candidates(doc).items():
                if query.simple is not None:
                    out.append((key, (query.simple,)))
                    continue
                terms = query.match_document(doc)
                if terms is not None:
                    out.append((key, terms))
        out.sort()
        return version, out
