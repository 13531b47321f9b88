"""The keyword query language of alerts: parse a query once, match every new article fast.

Alert filters elsewhere fail in known ways: they match inside other words or inside HTML
("Center" in ``class="text-center"``), have no phrases, or want regular expressions. Here a
query is a small boolean language over *words*:

===================  ======================================================================
``rocket``           the word, any case, with the summarizer's stemming: "rockets", "Rocket's"
                     (not "rocketry": the Snowball stemmer keeps it apart)
``"rocket systems"`` these exact words in this order (no stemming inside quotes); the words may
                     be joined by spaces, hyphens, quotes or tags, but not by a sentence end
``long-range``       a word with inner punctuation is its parts side by side, each stemmed
``a b``              both (AND; ``a AND b`` says the same)
``a OR b``           either; AND binds tighter: ``a b OR c`` is ``(a b) OR c``
``-word``            excludes (also ``-"a phrase"``, ``-(a OR b)``, ``NOT word``)
``title:word``       only in the title (also ``title:"a phrase"``, ``title:(a OR b)``)
``( ... )``          grouping
===================  ======================================================================

Only article *text* is matched: HTML tags, comments, scripts and entities are removed first.

Public API: :func:`compile_query` -> :class:`CompiledQuery` (``match(title=, text=)`` returns the
matched terms or None). Matching many queries at once is :mod:`bot.alerts.matching`.
"""

from __future__ import annotations

import html
import itertools
import re
import threading
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from bot.errors import QueryError, inert
from bot.text import cached_stem, language_kit

MAX_QUERY_CHARS = 200

# -- text analysis ---------------------------------------------------------------------------

# A word: letters/digits, with inner apostrophes ("don't", "Ukraine's"); hyphens, dots and
# other punctuation separate words (so "Russia-Ukraine" holds "Ukraine").
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# the same words, kept by re.split with the text between them: [gap, word, gap, word, ..., gap]
_TOKEN_SPLIT = re.compile(r"([^\W_]+(?:['’][^\W_]+)*)")
_POSSESSIVE = re.compile(r"['’]s$")
_SENTENCE_END = re.compile(r"[.!?;]['\"’”)\]]*\s|\n\s*\n")
# After these a "." is an abbreviation, not a sentence end ("Mr. Smith", "U.S. Army").
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof gen sen rep gov lt col capt cmdr adm sgt st ave no nos vs v fig approx
    dept est jr sr rev hon pres jan feb mar apr jun jul aug sep sept oct nov dec inc corp ltd
    co""".split()
)

_BLOCK_TAGS = (
    "address|article|aside|blockquote|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|header|hr|"
    "li|main|nav|ol|p|pre|section|table|td|th|tr|ul"
)
_MARKUP_DROP = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style|template|noscript)\b[^>]*>.*?(?:</\1\s*>|$)",
    re.IGNORECASE | re.DOTALL,
)
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCK_TAGS})\b[^>]*>", re.IGNORECASE)
_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<![^<>]*>")
_PARAGRAPH = "\n\n"
# Invisible characters inside words: a soft hyphen (``&shy;``, common in German and in
# justified web text), a word joiner, a stray byte order mark. "Ro&shy;cket" is "Rocket".
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u2060\ufeff"))


def strip_markup(text: str) -> str:
    """Visible text of ``text``: tags, comments, scripts and styles removed, entities decoded.

    Block-level tags become paragraph breaks (a phrase never spans two paragraphs); inline tags
    vanish without a space ("Rock<b>et</b>" is "Rocket"). Entity-encoded markup (a feed that
    escaped its HTML twice) is decoded and stripped as well. Plain text comes back unchanged.
    """
    for _ in range(2):  # the second pass handles "&lt;div class=...&gt;"
        if "<" in text:
            text = _MARKUP_DROP.sub(" ", text)
            text = _BLOCK_TAG.sub(_PARAGRAPH, text)
            text = _BREAK_TAG.sub("\n", text)
            text = _ANY_TAG.sub("", text)
        if "&" not in text:
            break
        text = html.unescape(text)
    return text


def _fold(word: str) -> str:
    """Case- and accent-insensitive form ("Café" -> "cafe")."""
    word = word.casefold()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("’", "'")


class Analyzer:
    """Turns text into match keys: the stem of each word and its exact (folded) form.

    Exact forms are prefixed with ``=`` so both live in one key space; stems are what the
    summarizer's Snowball stemmer gives (cached: stemming is ~10 µs a word).
    """

    _CACHE_LIMIT = 500_000

    def __init__(self, language: str = "english") -> None:
        kit = language_kit(language)
        self.language = language
        self._stem = kit.stemmer
        self.stop_words = kit.stop_words
        self._cache: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def keys(self, word: str) -> tuple[str, str]:
        """(stem key, exact key) of one word token."""
        found = self._cache.get(word)
        if found is not None:
            return found
        exact = _POSSESSIVE.sub("", _fold(word)) or _fold(word)
        stem = _fold(str(cached_stem(self._stem, exact)))  # shared with the summarizer
        keys = (stem, "=" + exact)
        with self._lock:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            self._cache[word] = keys
        return keys

    def words(self, text: str) -> list[str]:
        return _TOKEN.findall(text.translate(_INVISIBLE))

    def analyze_field(self, text: str) -> Field:
        """Positions of every key in ``text`` and the sentence each word belongs to."""
        text = strip_markup(text)
        if any(chr(code) in text for code in _INVISIBLE):  # rare: skip the copy without them
            text = text.translate(_INVISIBLE)
        parts = _TOKEN_SPLIT.split(text)
        found = parts[1::2]  # the words; parts[2 * i] is the text before word i
        count = len(found)
        # word i opens a new sentence when the text before it holds a sentence end (a mark and
        # a space: longer than one character) that is no abbreviation's full stop
        starts = [
            i for i, gap in enumerate(parts[0 : 2 * count : 2])
            if len(gap) > 1 and _SENTENCE_END.search(gap) and not (
                gap[0] == "." and "\n" not in gap and i > 0
                and (len(previous := found[i - 1]) == 1
                     or previous.casefold() in _ABBREVIATIONS))
        ]
        sentences: list[int] = []
        before = 0
        for number, start in enumerate(starts):
            sentences.extend([number] * (start - before))
            before = start
        sentences.extend([len(starts)] * (count - before))
        cache, keys = self._cache, self.keys
        pairs = [cache.get(word) or keys(word) for word in found]
        return Field([p[0] for p in pairs], [p[1] for p in pairs], sentences)

    def analyze(self, *, title: str, text: str) -> Document:
        return Document(self.analyze_field(title), self.analyze_field(text))


class Field:
    """One analysed field (title or body): each word's stem key and exact key, the sentence
    each word belongs to; which keys occur, and where (built when first asked: matching
    mostly asks whether a key occurs, rarely where)."""

    __slots__ = ("_keys", "_pairs", "_positions", "_stems_exacts", "sentences")

    def __init__(self, stems: list[str], exacts: list[str], sentences: list[int]) -> None:
        self.sentences = sentences
        self._stems_exacts = (stems, exacts)
        self._keys: set[str] | None = None
        self._positions: dict[str, list[int]] | None = None
        self._pairs: set[str] | None = None

    @property
    def keys(self) -> set[str]:
        """Every key of the field (stem keys and exact keys)."""
        if self._keys is None:
            stems, exacts = self._stems_exacts
            self._keys = set(stems)
            self._keys.update(exacts)
        return self._keys

    @property
    def positions(self) -> dict[str, list[int]]:
        """Where each key occurs (word numbers), keys in the order they first occur."""
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            add = positions.setdefault
            for i, (stem, exact) in enumerate(zip(*self._stems_exacts, strict=True)):
                add(stem, []).append(i)
                add(exact, []).append(i)
            self._positions = positions
        return self._positions

    def where(self, key: str) -> list[int] | None:
        """``positions.get(key)``, without building every key's positions."""
        if self._positions is not None:
            return self._positions.get(key)
        if key not in self.keys:
            return None
        stems, exacts = self._stems_exacts
        # a stem key never starts with "=" (an exact key does): it is in one list only
        return [i for i, k in enumerate(exacts if key.startswith("=") else stems) if k == key]

    def adjacent(self) -> set[str]:
        """Keys of every two neighbouring words, as "a b" (built once, when first needed)."""
        if self._pairs is None:
            stems, exacts = self._stems_exacts
            self._pairs = {f"{a} {b}" for a, b in itertools.pairwise(stems)}
            self._pairs.update(f"{a} {b}" for a, b in itertools.pairwise(exacts))
        return self._pairs

    def pairs_from(self, heads: Collection[str]) -> Iterator[str]:
        """The keys of :meth:`adjacent` whose first word is one of ``heads`` (maybe
        repeated), found from the heads' positions without building every pair of the text."""
        keys = self.keys
        stems, exacts = self._stems_exacts
        last = len(stems) - 1
        present = ([h for h in heads if h in keys] if len(heads) < len(keys)
                   else [k for k in keys if k in heads])
        for head in present:
            # a stem key is never an exact key (those start with "="): the pair is of its kind
            following = exacts if head.startswith("=") else stems
            for at in self.where(head) or ():
                if at < last:
                    yield f"{head} {following[at + 1]}"

    def has_phrase(self, keys: tuple[str, ...]) -> bool:
        where = self.where
        if len({key.startswith("=") for key in keys}) == 1:
            # all stems or all exact forms (a phrase is one or the other): a word's stem key
            # and exact key differ by the "=", so an occurrence at ``start`` below is these
            # keys side by side, and a key that is missing decides at once
            if not self.keys.issuperset(keys):
                return False
            found = [where(key) for key in keys]
            if any(f is None for f in found):
                return False
            first = found[0] or []
            sets = [set(f or ()) for f in found[1:]]
        else:
            adjacent = self.adjacent()
            if not all(f"{a} {b}" in adjacent for a, b in itertools.pairwise(keys)):
                return False  # the common case, decided without looking at positions
            first = where(keys[0]) or []
            sets = [set(where(k) or ()) for k in keys[1:]]
        last = len(keys) - 1
        for start in first:
            if (all(start + n in s for n, s in enumerate(sets, start=1))
                    and self.sentences[start] == self.sentences[start + last]):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Document:
    """An analysed article: title and body, matched by every query without re-tokenizing."""

    title: Field
    body: Field

    def terms(self) -> Iterator[str]:
        """Every key of title and body (a key in both comes twice; in no particular order)."""
        yield from self.title.keys
        yield from self.body.keys

    def pairs(self) -> Iterator[str]:
        """Two-word keys ("a b") of neighbouring words: what phrase queries are filed under."""
        yield from self.title.adjacent()
        yield from self.body.adjacent()

    def pairs_from(self, heads: Collection[str]) -> Iterator[str]:
        """Those of :meth:`pairs` whose first word is one of ``heads`` (maybe repeated)."""
        yield from self.title.pairs_from(heads)
        yield from self.body.pairs_from(heads)

    def has(self, key: str, *, title_only: bool) -> bool:
        return key in self.title.keys or (not title_only and key in self.body.keys)

    def has_phrase(self, keys: tuple[str, ...], *, title_only: bool) -> bool:
        return self.title.has_phrase(keys) or (not title_only and self.body.has_phrase(keys))


@lru_cache(maxsize=16)
def analyzer_for(language: str) -> Analyzer:
    return Analyzer(language)


# -- the query tree ---------------------------------------------------------------------------


class Node:
    """A node of a parsed query. ``evaluate`` appends the terms it matched to ``hits``."""

    __slots__ = ()

    def evaluate(self, doc: Document, hits: list[str]) -> bool:
        raise NotImplementedError

    def positive(self) -> bool:
        """True when a match needs something present (not only something absent)."""
        return True

    def anchors(self, cost: dict[str, float]) -> frozenset[str] | None:
        """Keys of which any matching article has at least one (None: no such set)."""
        raise NotImplementedError

    def show(self, top: bool = False) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Term(Node):
    """One word (stemmed) or a phrase (several words side by side in one sentence)."""

    keys: tuple[str, ...]
    display: str
    title_only: bool = False

    def evaluate(self, doc: Document, hits: list[str]) -> bool:
        if len(self.keys) == 1:
            found = doc.has(self.keys[0], title_only=self.title_only)
        else:
            found = doc.has_phrase(self.keys, title_only=self.title_only)
        if found:
            hits.append(self.label)
        return found

    @property
    def label(self) -> str:
        return f"title:{self.display}" if self.title_only else self.display

    def anchors(self, cost: dict[str, float]) -> frozenset[str]:
        if len(self.keys) == 1:
            return frozenset(self.keys)
        # a phrase: filed under its rarest pair of neighbouring words ("a b"), far rarer
        # than either word alone
        pairs = [f"{a} {b}" for a, b in itertools.pairwise(self.keys)]
        return frozenset({min(pairs, key=lambda p: cost.get(p, 1.0))})

    def show(self, top: bool = False) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class Not(Node):
    child: Node

    def evaluate(self, doc: Document, hits: list[str]) -> bool:
        return not self.child.evaluate(doc, [])

    def positive(self) -> bool:
        return False

    def anchors(self, cost: dict[str, float]) -> None:
        return None

    def show(self, top: bool = False) -> str:
        return "-" + self.child.show()


@dataclass(frozen=True, slots=True)
class And(Node):
    children: tuple[Node, ...]

    def evaluate(self, doc: Document, hits: list[str]) -> bool:
        mark = len(hits)
        for child in self.children:
            if not child.evaluate(doc, hits):
                del hits[mark:]
                return False
        return True

    def positive(self) -> bool:
        return any(c.positive() for c in self.children)

    def anchors(self, cost: dict[str, float]) -> frozenset[str] | None:
        best: frozenset[str] | None = None
        best_cost = 0.0
        for child in self.children:
            found = child.anchors(cost)
            if found is None:
                continue
            total = sum(cost.get(k, 1.0) for k in found)
            if best is None or total < best_cost:
                best, best_cost = found, total
        return best

    def show(self, top: bool = False) -> str:
        text = " ".join(c.show() for c in self.children)
        return text if top else f"({text})"


@dataclass(frozen=True, slots=True)
class Or(Node):
    children: tuple[Node, ...]

    def evaluate(self, doc: Document, hits: list[str]) -> bool:
        found = False
        for child in self.children:  # every branch, to name every matched term
            found = child.evaluate(doc, hits) or found
        return found

    def positive(self) -> bool:
        return all(c.positive() for c in self.children)

    def anchors(self, cost: dict[str, float]) -> frozenset[str] | None:
        keys: set[str] = set()
        for child in self.children:
            found = child.anchors(cost)
            if found is None:
                return None
            keys |= found
        return frozenset(keys)

    def show(self, top: bool = False) -> str:
        text = " OR ".join(c.show() for c in self.children)
        return text if top else f"({text})"


# -- parsing ---------------------------------------------------------------------------------

_QUOTES_OPEN = "\"“”„‟″«"
_QUOTES_CLOSE = "\"“”„‟″»"
_MINUS = "-−–"
_FIELD = re.compile(r"([A-Za-z]+):(?=\S)")
_OPERATORS = frozenset({"OR", "AND", "NOT"})
_SAFE_DISPLAY = re.compile(r"[^\w\-'’./+#:&]")  # nothing that can mention or mark up


@dataclass(slots=True)
class _Token:
    kind: str  # word, phrase, or, and, not, neg, lparen, rparen, title, end
    text: str
    pos: int


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token("lparen" if ch == "(" else "rparen", ch, i))
            i += 1
        elif ch in _QUOTES_OPEN:
            end = next((j for j in range(i + 1, n) if query[j] in _QUOTES_CLOSE), -1)
            if end < 0:
                raise QueryError("this quote is never closed: add the closing \"",
                                 query=query, position=i)
            tokens.append(_Token("phrase", query[i + 1:end], i))
            i = end + 1
        elif ch in _MINUS:
            nxt = query[i + 1] if i + 1 < n else ""
            if not nxt or nxt.isspace() or nxt == ")":
                raise QueryError("a - must be followed by the word or \"phrase\" to exclude",
                                 query=query, position=i)
            if nxt in _MINUS:
                raise QueryError("one - is enough to exclude a word", query=query, position=i)
            tokens.append(_Token("neg", ch, i))
            i += 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in "()" + _QUOTES_OPEN:
                j += 1
            word = query[i:j]
            field = _FIELD.match(query, i)
            if field and field.end() <= j + 1:
                if field.group(1).lower() != "title":
                    raise QueryError(
                        f"unknown field {field.group(1)}: (the only field is title:; put "
                        "text with a colon in quotes)", query=query, position=i)
                tokens.append(_Token("title", word[:6], i))
                i += 6
                continue
            if word.lower() == "title:":
                raise QueryError("title: needs a word, \"phrase\" or (group) right after it",
                                 query=query, position=i)
            kind = {"OR": "or", "AND": "and", "NOT": "not"}.get(word, "word")
            tokens.append(_Token(kind, word, i))
            i = j
    tokens.append(_Token("end", "", n))
    return tokens


class _Parser:
    def __init__(self, query: str, analyzer: Analyzer) -> None:
        self.query = query
        self.analyzer = analyzer
        self.tokens = _lex(query)
        self.i = 0

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, query=self.query, position=position)

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind == "rparen":
            raise self.error("this ) closes nothing: remove it or add a (", self.tok.pos)
        assert self.tok.kind == "end"
        return node

    def parse_or(self) -> Node:
        starts = [self.tok.pos]
        branches = [self.parse_and()]
        while self.tok.kind == "or":
            op = self.tok
            self.i += 1
            if self.tok.kind in ("end", "rparen", "or"):
                raise self.error("OR needs a word or \"phrase\" after it", op.pos)
            starts.append(self.tok.pos)
            branches.append(self.parse_and())
        if len(branches) == 1:
            return branches[0]
        for branch, start in zip(branches, starts, strict=True):
            if not branch.positive():
                raise self.error(
                    "each side of OR needs a word to look for, not only exclusions", start)
        return Or(tuple(branches))

    def parse_and(self) -> Node:
        start = self.tok
        items: list[Node] = []
        while self.tok.kind not in ("end", "rparen", "or"):
            if self.tok.kind == "and":
                op = self.tok
                self.i += 1
                if not items or self.tok.kind in ("end", "rparen", "or", "and"):
                    raise self.error("AND needs a word or \"phrase\" on both sides", op.pos)
                continue
            items.append(self.parse_unary())
        if not items:
            if start.kind == "or":
                raise self.error("OR needs a word or \"phrase\" before it", start.pos)
            if start.kind == "rparen":
                raise self.error("empty parentheses: put words inside, or remove them",
                                 start.pos)
            raise self.error("nothing to look for: give a word or a \"phrase\"", start.pos)
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        tok = self.tok
        if tok.kind in ("neg", "not"):
            self.i += 1
            if self.tok.kind in ("neg", "not"):
                raise self.error("one exclusion is enough here", self.tok.pos)
            if self.tok.kind in ("end", "rparen", "or", "and"):
                raise self.error("NOT must be followed by the word or \"phrase\" to exclude",
                                 tok.pos)
            return Not(self.parse_primary(title_only=False))
        return self.parse_primary(title_only=False)

    def parse_primary(self, *, title_only: bool) -> Node:
        tok = self.tok
        self.i += 1
        if tok.kind == "word":
            return self.term(tok, exact=False, title_only=title_only)
        if tok.kind == "phrase":
            return self.term(tok, exact=True, title_only=title_only)
        if tok.kind == "title":
            if self.tok.kind in ("neg", "not"):
                raise self.error("put the - before title: (-title:word)", self.tok.pos)
            if self.tok.kind not in ("word", "phrase", "lparen", "title"):
                raise self.error("title: needs a word, \"phrase\" or (group) right after it",
                                 tok.pos)
            return self.parse_primary(title_only=True)
        if tok.kind == "lparen":
            inner = self.parse_or()
            if self.tok.kind != "rparen":
                raise self.error("this ( is never closed: add a )", tok.pos)
            self.i += 1
            return _title_only(inner) if title_only else inner
        if tok.kind == "rparen":
            raise self.error("this ) closes nothing: remove it or add a (", tok.pos)
        if tok.kind in ("or", "and"):
            raise self.error(f"{tok.text} needs a word or \"phrase\" on both sides", tok.pos)
        raise self.error("a word or \"phrase\" is missing here", tok.pos)

    def term(self, tok: _Token, *, exact: bool, title_only: bool) -> Term:
        parts = self.analyzer.words(tok.text)
        if not parts:
            what = "these quotes hold" if exact else f"{inert(tok.text)!r} has"
            raise self.error(f"{what} no letters or digits to look for", tok.pos)
        keys = tuple(self.analyzer.keys(p)[1 if exact else 0] for p in parts)
        # The display must read back as the same term: "rocket,launch" is shown as
        # rocket-launch (not rocketlaunch), "OR," as or, "#TITLE:x" not as a field.
        if exact:
            display = " ".join(_SAFE_DISPLAY.sub(" ", tok.text).split())
            if self.analyzer.words(display) != parts:
                display = " ".join(parts)
            display = f'"{display}"'
        else:
            display = _SAFE_DISPLAY.sub("", tok.text).strip("-'’./:+#")
            if (display in _OPERATORS or ":" in display
                    or self.analyzer.words(display) != parts):
                display = "-".join(parts)
                if display in _OPERATORS:
                    display = display.lower()
        return Term(keys, display, title_only)


def _title_only(node: Node) -> Node:
    if isinstance(node, Term):
        return Term(node.keys, node.display, True)
    if isinstance(node, Not):
        return Not(_title_only(node.child))
    if isinstance(node, And):
        return And(tuple(_title_only(c) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(_title_only(c) for c in node.children))
    raise TypeError(node)


# -- compiled queries -------------------------------------------------------------------------


_STOP_COST = 100.0


def _key_cost(key: str, stop_words: frozenset[str]) -> float:
    """Guess how common a key is (lower = rarer): stop words worst, short words common."""
    word = key.lstrip("=")
    if word in stop_words:
        return _STOP_COST
    rarity = 1.0 / (1 + min(len(word), 12))
    return rarity * (0.9 if key.startswith("=") else 1.0)


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A parsed query, ready to match; ``text`` is what was typed, ``canonical`` the reading
    with explicit parentheses (safe to show: words and operators only)."""

    text: str
    tree: Node
    language: str
    canonical: str
    anchors: frozenset[str] = field(repr=False)
    # a lone word: filed under its key, so being a candidate is a match (the common case)
    simple: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """Case-insensitive identity: two queries with one key match the same articles."""
        return self.canonical.casefold()

    def match(self, *, title: str, text: str) -> tuple[str, ...] | None:
        """Matched terms (display form, in query order, no repeats) or None."""
        return self.match_document(analyzer_for(self.language).analyze(title=title, text=text))

    def match_document(self, doc: Document) -> tuple[str, ...] | None:
        hits: list[str] = []
        if not self.tree.evaluate(doc, hits):
            return None
        return tuple(dict.fromkeys(hits))


def compile_query(text: str, *, language: str = "english",
                  max_chars: int | None = MAX_QUERY_CHARS) -> CompiledQuery:
    """Parse ``text``; :class:`QueryError` (with the position) when it is malformed."""
    query = re.sub(r"\s+", " ", text or "").strip()
    if not query:
        raise QueryError(
            "the query is empty: give words to look for, e.g. rocket launch -opinion",
            query=query, position=0)
    if max_chars is not None and len(query) > max_chars:
        error = QueryError(
            f"a query is at most {max_chars} characters (this one has {len(query)}): "
            f"it is too long from “{inert(query[max_chars - 20:max_chars])}” on",
            position=max_chars)
        error.query = query
        raise error
    analyzer = analyzer_for(language)
    tree = _Parser(query, analyzer).parse()
    if not tree.positive():
        raise QueryError(
            "the query only excludes: add a word to look for (rocket -opinion)",
            query=query, position=0)
    cost: dict[str, float] = {}
    for key in _all_keys(tree):
        cost[key] = _key_cost(key, analyzer.stop_words)
    for node in _terms(tree):
        for a, b in itertools.pairwise(node.keys):
            cost[f"{a} {b}"] = 0.1 * min(cost[a], cost[b])
    anchors = tree.anchors(cost)
    assert anchors, "a positive query always has anchors"
    if all(cost.get(a, 1.0) >= _STOP_COST for a in anchors):
        # "wells" is stemmed to "well", "seconds" to "second": common words, though what
        # was typed is not; quoting it looks for that exact word
        collapsed = [t for t in _terms(tree) if len(t.keys) == 1 and t.keys[0] in anchors
                     and not t.keys[0].startswith("=")
                     and _fold(t.display) not in analyzer.stop_words]
        if collapsed:
            term = collapsed[0]
            raise QueryError(
                f"{term.display} is read as every form of {term.keys[0]}, which almost every "
                f"article has: put it in quotes (\"{term.display}\") to look for that exact "
                "word, or add a more specific word", query=query, position=0)
        common = ", ".join(sorted({a.lstrip("=") for a in anchors}))
        raise QueryError(
            f"{common} alone would match almost every article: add a more specific word "
            "(or put a whole \"phrase\" in quotes)", query=query, position=0)
    simple = (tree.label if isinstance(tree, Term) and len(tree.keys) == 1
              and not tree.title_only else None)
    return CompiledQuery(query, tree, language, tree.show(top=True), anchors, simple)


def _terms(node: Node) -> Iterator[Term]:
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Not):
        yield from _terms(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _terms(child)


def _all_keys(node: Node) -> Iterator[str]:
    for term in _terms(node):
        yield from term.keys


__all__ = [
    "MAX_QUERY_CHARS",
    "Analyzer",
    "CompiledQuery",
    "Document",
    "analyzer_for",
    "compile_query",
    "strip_markup",
]
