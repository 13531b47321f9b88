"""Stories: the digest's clustering of articles that report the same story (issue 17, item 4).

**Terms.** Each article is a bag of terms from its title (weight 2) and stored summary
(weight 1): words lower-cased, stop words dropped, stemmed with the summarizer language's
Snowball stemmer (:func:`story_terms`; computed once per article, :class:`TermCache`).

**Clustering a set at once** (:func:`cluster_terms`, :meth:`StoryIndex.rebuild`). Terms are
weighted by inverse document frequency over the articles being clustered, with the set
treated as at least :data:`MIN_IDF_DOCS` documents so a small set does not penalise the very
words two reports share. Articles are taken oldest first; each joins the existing cluster
whose centroid is most similar (cosine) if that similarity is at least the threshold
(``[digest] cluster_similarity``), else it starts a new cluster. Candidate clusters are found
through an inverted index of the article's rarer terms (a named entity, a number) among
recent clusters, so clustering stays near-linear on thousands of articles. This is the
algorithm digests used before issue 17 (``tests/digest_reference.py`` keeps it verbatim).

**Clustering as articles arrive** (:meth:`StoryIndex.extend`). A set's weights depend on
every article in it, so clustering it at once cannot take one more article without starting
again (seconds for a day of news). A :class:`StoryIndex` keeps the stories of the articles
digests read instead, and each digest takes them restricted to its own articles (its feeds,
its period), as a pass over many channels always did; where a digest holds only some of a
story's reports, those are clustered again among themselves (:meth:`StoryIndex.group`), so
reports a channel does not see do not glue its own into one item. The document frequencies
are a table over the articles the index holds, updated as one arrives (only the new
article's terms change); a new article is weighed with the table as it then stands and joins
a story exactly as above. The stories already made are not revisited.

**Kept in the database** (issue 17 item 4, issue 12; :class:`bot.store.ports.StoryStore`,
driven by ``DigestPass._stories`` in :mod:`bot.digests.build`). Each placed article's terms
(:func:`encode_terms`) and story (its first article's id, :meth:`StoryIndex.story`) are stored
with it, so terms are computed once per article for good and a restarted process, or another
process on the same database, reads the stories (:meth:`StoryIndex.load`, then
:meth:`StoryIndex.adopt` for what others placed since) instead of stemming and clustering the
day again. One process at a time places new articles, holding a lease; the others wait for it
and read. The stories start (clustered at once, :meth:`StoryIndex.rebuild`) only when there
are none for the language and threshold in use, or a digest reaches back before them; after
that they only grow. Read back, the document frequencies, centroids and rare-term postings
are recomputed when first needed from the terms and stories held, with the weights of the
whole set. How close this comes to clustering each digest's articles at once is measured in
``bench/bench_digest_window.py`` (BENCHMARKS.md, "Digests without re-reading the day").
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain, repeat
from operator import add, itemgetter, mul

from bot.store.ports import DigestArticle
from bot.text import language_kit, words

MIN_IDF_DOCS = 50
RARE_TERM_MAX_DF = 100
RECENT_CLUSTERS = 100
MAX_CANDIDATES = 8
SPLITS_KEPT = 100_000
TERM_CACHE_SIZE = 200_000
@lru_cache(maxsize=200_000)
def _stem(language: str, word: str) -> str:
    return str(language_kit(language).stemmer(word))


def story_terms(title: str, summary: Sequence[str], *, language: str) -> dict[str, float]:
    """Stemmed content terms of a title (weight 2) and summary (weight 1)."""
    stop = language_kit(language).stop_words
    terms: dict[str, float] = {}
    for weight, text in ((2.0, title), (1.0, " ".join(summary))):
        for word in words(text):
            w = word.lower()
            if w in stop or (len(w) < 2 and not w.isdigit()):
                continue
            term = _stem(language, w)
            if terms.get(term, 0.0) < weight:
                terms[term] = weight
    return terms


def encode_terms(bag: dict[str, float]) -> str:
    """A bag of :func:`story_terms` as stored: the title's terms (weight 2), a tab, the
    summary's other terms (weight 1), each run space-separated in the bag's order (the
    title's terms come first in every bag, so the order survives)."""
    title = [t for t, w in bag.items() if w == 2.0]
    rest = [t for t, w in bag.items() if w != 2.0]
    return " ".join(title) + "\t" + " ".join(rest)


def decode_terms(text: str) -> dict[str, float]:
    """:func:`encode_terms`' bag again (the same terms, weights and order)."""
    title, _, rest = text.partition("\t")
    bag = dict.fromkeys(title.split(), 2.0)
    if rest:
        bag.update(dict.fromkeys(rest.split(), 1.0))
    return bag


class TermCache:
    """Each stored article's story terms, computed once (an article never changes once
    stored) and kept for the newest :data:`TERM_CACHE_SIZE` articles, per language. Shared by
    every pass and preview on one store; safe to fill from the worker threads."""

    def __init__(self, size: int = 0) -> None:
        self.size = size or TERM_CACHE_SIZE
        self._lock = threading.Lock()
        self._by_language: dict[str, dict[int, dict[str, float]]] = {}

    def bags(self, articles: Sequence[DigestArticle], *, language: str
             ) -> list[dict[str, float]]:
        """The terms of each of ``articles`` (computed for those not seen before)."""
        with self._lock:
            known = self._by_language.setdefault(language, {})
        get = known.get
        out: list[dict[str, float]] = []
        fresh: dict[int, dict[str, float]] = {}
        for a in articles:
            bag = get(a.id)
            if bag is None:
                bag = fresh[a.id] = story_terms(a.title, a.summary, language=language)
            out.append(bag)
        if fresh:
            with self._lock:
                known.update(fresh)
                if len(known) > self.size:  # forget the oldest articles (lowest ids)
                    for key in sorted(known)[: len(known) - self.size]:
                        del known[key]
        return out


class _Cluster:
    """A story being grown: the sum of its members' unit vectors and that sum's squared
    length, kept up to date as members join (|c + v|^2 = |c|^2 + 2 c.v + |v|^2: the dot
    product is the one that chose the cluster, so no norm is recomputed per member)."""

    __slots__ = ("centroid", "members", "norm", "norm_sq", "story")

    def __init__(self, vector: dict[str, float], member: int, story: int | None = None
                 ) -> None:
        self.centroid = vector
        self.members = [member]
        self.norm = 1.0
        self.norm_sq = 1.0
        self.story = member if story is None else story  # its first article, for good

    def add(self, keys: list[str], values: list[float], member: int, *, dot: float,
            square: float) -> None:
        centroid = self.centroid
        centroid.update(zip(keys, map(add, map(centroid.get, keys, repeat(0.0)), values),
                            strict=True))
        self.members.append(member)
        self.norm_sq += 2.0 * dot + square
        self.norm = math.sqrt(self.norm_sq)


_second = itemgetter(1)


def _rare_df(n: int) -> int:
    """Terms in more articles than this do not propose candidates (they still count in the
    similarity); the same story's reports share a rarer term (a name, a number)."""
    return max(3, min(n // 20, RARE_TERM_MAX_DF))


class StoryIndex:
    """The stories of a run of articles (ids ascending), kept as articles arrive; see the
    module docstring. ``story_of`` maps each article id it holds to its story's number (an
    index into :meth:`stories`); :meth:`story` gives the story's lasting id (its first
    article's id), the one stored (:meth:`load`, :meth:`adopt`)."""

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self.story_of: dict[int, int] = {}
        self.lo = self.hi = 0   # it holds the articles lo < id <= hi it was given
        self.generation = 0     # the stored stories' generation it mirrors (0: none)
        self.batch_size = 0     # articles clustered at once when it last started
        self.added = 0          # articles added one at a time since
        self._ids: list[int] = []
        self._df: dict[str, int] | None = {}
        self._n = 0
        self._clusters: list[_Cluster] = []
        self._by_story: dict[int, int] = {}  # a story's id -> its number
        self._placing = True  # the clusters' centroids and rare-term postings are current
        self._index: dict[str, list[int]] = {}  # rare term -> clusters holding it, in order
        self._bags: dict[int, dict[str, float]] = {}  # each article's terms
        self._raw: dict[int, str] = {}  # terms as stored, read when first needed
        # kept while the document frequencies stay as they are (see group)
        self._vectors: dict[int, tuple[list[str], list[float], list[str]]] = {}
        self._splits: dict[tuple[int, ...], list[list[int]]] = {}

    def __len__(self) -> int:
        return self._n

    def stories(self) -> list[list[int]]:
        """Every story's member ids, in the order the stories started."""
        return [c.members for c in self._clusters]

    def story(self, member: int) -> int:
        """The lasting id of the story article ``member`` (held) is in: its first article's."""
        return self._clusters[self.story_of[member]].story

    def bag(self, member: int) -> dict[str, float]:
        """The terms of article ``member`` (held)."""
        bag = self._bags.get(member)
        if bag is None:
            bag = self._bags[member] = decode_terms(self._raw.pop(member))
        return bag

    @property
    def unready(self) -> int:
        """Articles to weigh again before the next one can be placed (those read back, until
        their centroids are computed)."""
        return 0 if self._placing else self._n

    def held_through(self, article_id: int) -> int:
        """How many of the articles it holds have ids up to ``article_id``."""
        return bisect.bisect_right(self._ids, article_id)

    def due_rebuild(self, more: int = 0) -> bool:
        """Whether, with ``more`` articles added, as many would have been added one at a time
        as were clustered at once when it last started: starting again then costs, per
        article added, one more clustering of an article (amortised), and the weights are
        again those of the whole set."""
        return self.added + more >= max(self.batch_size, MIN_IDF_DOCS)

    def _reset(self, ids: Sequence[int], bags: Sequence[dict[str, float]], *, lo: int) -> None:
        self.story_of, self._clusters, self._index, self._by_story = {}, [], {}, {}
        self._ids = list(ids)
        self._bags = dict(zip(ids, bags, strict=True))
        self._raw = {}
        self._vectors, self._splits = {}, {}
        self.lo, self.hi = lo, (ids[-1] if len(ids) else lo)
        self.batch_size = self._n = len(bags)
        self.added = 0

    def rebuild(self, ids: Sequence[int], bags: Sequence[dict[str, float]], *, lo: int
                ) -> None:
        """Start again from ``ids`` (ascending, all > ``lo``) clustered at once, with the
        weights of the whole set (the clusters of :func:`cluster_terms`)."""
        self._reset(ids, bags, lo=lo)
        n = self._n
        df: Counter[str] = Counter(chain.from_iterable(bags))
        self._df = dict(df)
        self._placing = True
        docs = max(n, MIN_IDF_DOCS)
        idf_of = {t: math.log(1.0 + docs / d) for t, d in df.items()}.__getitem__
        rare_df = _rare_df(n)
        rare = {t for t, d in df.items() if d <= rare_df}
        place = self._place
        for member, bag in zip(ids, bags, strict=True):
            keys = list(bag)
            weighted = list(map(mul, bag.values(), map(idf_of, keys)))
            place(member, keys, weighted, [t for t in keys if t in rare])

    def load(self, ids: Sequence[int], terms: Sequence[str], stories: Sequence[int], *,
             lo: int, hi: int) -> None:
        """Start from stories made before (stored): article ``ids[i]`` (ascending, all >
        ``lo``) with stored terms ``terms[i]`` (:func:`encode_terms`) is in the story whose id
        is ``stories[i]``. Cheap: the terms are read, and the document frequencies, centroids
        and rare-term postings computed, when first needed (to split a story a digest sees
        part of, or to place newer articles), with the weights of the whole set, as
        :meth:`rebuild` weighs them."""
        self._reset([], [], lo=lo)
        self._ids = list(ids)
        self._raw = dict(zip(ids, terms, strict=True))
        self._n = len(self._ids)
        self.hi = max(ids[-1] if len(ids) else lo, hi)
        self.batch_size = 0
        self._df, self._placing = None, False
        self._join(ids, stories)

    def _join(self, ids: Sequence[int], stories: Sequence[int]) -> None:
        """Members of stories whose ids are given (centroids left to :meth:`_ensure_placing`)."""
        clusters, by_story, story_of = self._clusters, self._by_story, self.story_of
        for member, story in zip(ids, stories, strict=True):
            c = by_story.get(story)
            if c is None:
                c = by_story[story] = len(clusters)
                cluster = _Cluster({}, member, story)
                clusters.append(cluster)
            else:
                clusters[c].members.append(member)
            story_of[member] = c

    def adopt(self, ids: Sequence[int], terms: Sequence[str], stories: Sequence[int]) -> None:
        """Newer articles (ids ascending, above :attr:`hi`) placed elsewhere (by another
        process, stored with their ``terms``): each counted and put in its given story."""
        if not ids:
            return
        self._vectors, self._splits = {}, {}
        self._ids += ids
        if not self._placing:  # the centroids are computed when first needed, from all
            self._raw.update(zip(ids, terms, strict=True))
            if self._df is not None:
                df = self._df
                for text in terms:
                    for t in text.split():
                        df[t] = df.get(t, 0) + 1
            self._n += len(ids)
            self._join(ids, stories)
        else:
            bags = [decode_terms(t) for t in terms]
            self._bags.update(zip(ids, bags, strict=True))
            self._add(ids, bags, stories)
            self.added -= len(ids)
        self.hi = max(self.hi, ids[-1])

    def extend(self, ids: Sequence[int], bags: Sequence[dict[str, float]]) -> None:
        """Add newer articles (ids ascending, above :attr:`hi`), one at a time: each counted
        in the document frequencies, weighed with them as they then stand (the weights of
        the articles already placed are not revisited), and placed."""
        if not ids:
            return
        self._ensure_placing()
        self._vectors, self._splits = {}, {}
        self._ids += ids
        self._bags.update(zip(ids, bags, strict=True))
        self._add(ids, bags, None)

    def _add(self, ids: Sequence[int], bags: Sequence[dict[str, float]],
             stories: Sequence[int] | None) -> None:
        df = self._df
        assert df is not None
        place = self._place
        log = math.log
        n = self._n
        for i, (member, bag) in enumerate(zip(ids, bags, strict=True)):
            keys = list(bag)
            for t in keys:
                df[t] = df.get(t, 0) + 1
            n += 1
            docs = max(n, MIN_IDF_DOCS)
            counts = list(map(df.__getitem__, keys))
            weighted = [w * log(1.0 + docs / d) for w, d in zip(bag.values(), counts,
                                                                 strict=True)]
            rare_df = _rare_df(n)
            place(member, keys, weighted,
                  [t for t, d in zip(keys, counts, strict=True) if d <= rare_df],
                  None if stories is None else stories[i])
            self.hi = member
        self.added += n - self._n
        self._n = n

    def _ensure_df(self) -> dict[str, int]:
        if self._df is None:
            bags, raw = self._bags, self._raw
            self._df = dict(Counter(chain.from_iterable(
                bags[i] if i in bags else raw[i].split() for i in self._ids)))
        return self._df

    def _ensure_placing(self) -> None:
        """The centroids and rare-term postings of stories made before (:meth:`load`): each
        member weighed with the document frequencies of the whole set, as :meth:`rebuild`
        does, and its unit vector summed into its story's centroid."""
        if self._placing:
            return
        df = self._ensure_df()
        n = self._n
        docs = max(n, MIN_IDF_DOCS)
        idf_of = {t: math.log(1.0 + docs / d) for t, d in df.items()}.__getitem__
        rare_df = _rare_df(n)
        rare = {t for t, d in df.items() if d <= rare_df}
        clusters, index, story_of, bag_of = self._clusters, self._index, self.story_of, self.bag
        index.clear()
        for cluster in clusters:
            cluster.centroid = {}
        for member in self._ids:
            bag = bag_of(member)
            keys = list(bag)
            weighted = list(map(mul, bag.values(), map(idf_of, keys)))
            length = math.sqrt(sum(map(mul, weighted, weighted))) or 1.0
            c = story_of[member]
            centroid = clusters[c].centroid
            centroid.update(zip(keys, map(add, map(centroid.get, keys, repeat(0.0)),
                                          (w / length for w in weighted)), strict=True))
            for term in keys:
                if term in rare:
                    postings = index.get(term)
                    if postings is None:
                        index[term] = [c]
                    elif postings[-1] != c:
                        postings.append(c)
        for cluster in clusters:
            values = cluster.centroid.values()
            cluster.norm_sq = sum(map(mul, values, values)) or 1.0
            cluster.norm = math.sqrt(cluster.norm_sq)
        for term, postings in index.items():
            if len(postings) > 2 * RECENT_CLUSTERS:
                index[term] = postings[-RECENT_CLUSTERS:]
        self._placing = True

    def group(self, articles: Iterable[DigestArticle]) -> list[list[DigestArticle]]:
        """``articles`` (all held, ascending) by story, in the order of each story's first
        article among them. Where they hold only some of a story's members (a channel's
        feeds, its period), those are clustered again among themselves with the weights as
        they stand: what held a story together may be reports the channel does not see, and
        its own reports alone may tell two stories."""
        story_of, clusters = self.story_of, self._clusters
        groups: dict[int, list[DigestArticle]] = {}
        for a in articles:
            s = story_of.get(a.id)
            if s is None:  # never given to the index (read past the window): a story alone
                groups[-a.id] = [a]
                continue
            found = groups.get(s)
            if found is None:
                groups[s] = [a]
            else:
                found.append(a)
        out: list[list[DigestArticle]] = []
        splits = self._splits
        for s, members in groups.items():
            if len(members) == 1 or len(members) == len(clusters[s].members):
                out.append(members)
                continue
            key = tuple(a.id for a in members)
            parts = splits.get(key)
            if parts is None:
                parts = splits[key] = self._split(key)
                if len(splits) > SPLITS_KEPT:
                    del splits[next(iter(splits))]
            if len(parts) == 1:
                out.append(members)
            else:
                by_id = {a.id: a for a in members}
                out += [[by_id[i] for i in part] for part in parts]
        return out

    def _split(self, members: tuple[int, ...]) -> list[list[int]]:
        """``members`` (article ids, ascending) clustered among themselves, oldest first, as
        :meth:`rebuild` places an article (every part a candidate: they are few)."""
        parts: list[tuple[dict[str, float], list[float], list[int]]] = []
        for member in members:
            keys, values, rare = self._vector(member)
            best, best_sim = -1, self.threshold
            for p, (centroid, norm, _) in enumerate(parts):
                if not any(t in centroid for t in rare):  # as in rebuild: a rare term shared
                    continue
                sim = sum(map(mul, values, map(centroid.get, keys, repeat(0.0)))) / norm[0]
                if sim >= best_sim:
                    best, best_sim = p, sim
            if best < 0:
                parts.append((dict(zip(keys, values, strict=True)), [1.0], [member]))
            else:
                centroid, norm, part = parts[best]
                centroid.update(zip(keys, map(add, map(centroid.get, keys, repeat(0.0)),
                                              values), strict=True))
                norm[0] = math.sqrt(sum(map(mul, centroid.values(), centroid.values())))
                part.append(member)
        return [part for _, _, part in parts]

    def _vector(self, member: int) -> tuple[list[str], list[float], list[str]]:
        """An article's terms, their unit-length weights and its rare terms, with the
        document frequencies as they stand (kept until they change)."""
        found = self._vectors.get(member)
        if found is None:
            df, bag = self._ensure_df(), self.bag(member)
            docs = max(self._n, MIN_IDF_DOCS)
            log = math.log
            keys = list(bag)
            weighted = [w * log(1.0 + docs / df[t]) for t, w in bag.items()]
            length = math.sqrt(sum(map(mul, weighted, weighted))) or 1.0
            rare_df = _rare_df(self._n)
            found = self._vectors[member] = (keys, [w / length for w in weighted],
                                             [t for t in keys if df[t] <= rare_df])
        return found

    def _place(self, member: int, keys: list[str], weighted: list[float],
               rare_keys: list[str], story: int | None = None) -> None:
        """Put one article (its terms and their weights) in the story it is most similar
        to, or in a new one; in story ``story`` (its id) when given (placed elsewhere)."""
        index, clusters = self._index, self._clusters
        length = math.sqrt(sum(map(mul, weighted, weighted))) or 1.0
        values = [w / length for w in weighted]
        best, best_sim, best_dot = -1, self.threshold, 0.0
        if story is not None:
            found = self._by_story.get(story)
            if found is not None:
                best = found
                best_dot = sum(map(mul, values, map(clusters[best].centroid.get, keys,
                                                    repeat(0.0))))
        else:
            proposed: list[int] = []
            for term in rare_keys:
                postings = index.get(term)
                if postings:
                    # reports of one story come close together: the latest clusters only
                    proposed += postings[-RECENT_CLUSTERS:]
            if proposed:
                # the full similarity only for the clusters sharing the most rare terms (the
                # order of Counter.most_common, by a sort done in C: stable, first seen first)
                shared = sorted(Counter(proposed).items(), key=_second, reverse=True)
                for c, _ in shared[:MAX_CANDIDATES]:
                    cluster = clusters[c]
                    dot = sum(map(mul, values, map(cluster.centroid.get, keys, repeat(0.0))))
                    sim = dot / cluster.norm
                    if sim >= best_sim:
                        best, best_sim, best_dot = c, sim, dot
        if best < 0:
            best = len(clusters)
            clusters.append(_Cluster(dict(zip(keys, values, strict=True)), member, story))
            self._by_story[clusters[best].story] = best
        else:
            clusters[best].add(keys, values, member, dot=best_dot,
                               square=sum(map(mul, values, values)))
        self.story_of[member] = best
        for term in rare_keys:
            postings = index.get(term)
            if postings is None:
                index[term] = [best]
            elif postings[-1] != best:
                postings.append(best)
                if len(postings) > 2 * RECENT_CLUSTERS:  # only the latest are looked at
                    del postings[:-RECENT_CLUSTERS]


def cluster_terms(bags: Sequence[dict[str, float]], *, threshold: float) -> list[list[int]]:
    """Group bags of terms (oldest first) into clusters of the same story, all at once; see
    the module docstring. Returns lists of indexes into ``bags``, each in input order."""
    index = StoryIndex(threshold=threshold)
    index.rebuild(range(len(bags)), bags, lo=-1)
    return index.stories()
