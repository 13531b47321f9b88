"""The digest's clustering and ranking as they were before issue 17 (item 4), kept verbatim:
a norm recomputed over the whole centroid for every member, every story scored and fully
sorted, matches applied to every story. The faster clustering of a set at once
(``bot.digests.stories.cluster_terms``) and the faster ranking must choose exactly these
stories; the stories kept as articles arrive (``StoryIndex.extend``) are compared with these
in ``bench/bench_digest_window.py``."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.digests.build import Matcher, Story, score_story, source_key
from bot.digests.stories import MAX_CANDIDATES, MIN_IDF_DOCS, RARE_TERM_MAX_DF, RECENT_CLUSTERS
from bot.store.ports import DigestArticle


class _Cluster:
    __slots__ = ("centroid", "members", "norm")

    def __init__(self, vector: dict[str, float], member: int) -> None:
        self.centroid = dict(vector)
        self.members = [member]
        self.norm = 1.0

    def add(self, vector: dict[str, float], member: int) -> None:
        for term, weight in vector.items():
            self.centroid[term] = self.centroid.get(term, 0.0) + weight
        self.members.append(member)
        self.norm = math.sqrt(sum(w * w for w in self.centroid.values()))


def cluster_terms(bags: Sequence[dict[str, float]], *, threshold: float) -> list[list[int]]:
    n = len(bags)
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    docs = max(n, MIN_IDF_DOCS)
    idf = {t: math.log(1.0 + docs / d) for t, d in df.items()}
    rare = max(3, min(n // 20, RARE_TERM_MAX_DF))
    clusters: list[_Cluster] = []
    index: dict[str, list[int]] = {}
    for i, bag in enumerate(bags):
        vector = {t: w * idf[t] for t, w in bag.items()}
        length = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        vector = {t: w / length for t, w in vector.items()}
        shared: Counter[int] = Counter()
        for term in vector:
            if df[term] <= rare:
                shared.update(index.get(term, ())[-RECENT_CLUSTERS:])
        best, best_sim = -1, threshold
        for c, _ in shared.most_common(MAX_CANDIDATES):
            cluster = clusters[c]
            dot = sum(w * cluster.centroid.get(t, 0.0) for t, w in vector.items())
            sim = dot / cluster.norm
            if sim >= best_sim:
                best, best_sim = c, sim
        if best < 0:
            best = len(clusters)
            clusters.append(_Cluster(vector, i))
        else:
            clusters[best].add(vector, i)
        for term in vector:
            postings = index.setdefault(term, [])
            if not postings or postings[-1] != best:
                postings.append(best)
    return [c.members for c in clusters]


def rank_stories(
    clusters: Iterable[Sequence[DigestArticle]], *, now: datetime,
    queries: Sequence[tuple[str, Matcher]] = (),
) -> list[Story]:
    stories = []
    for members in clusters:
        if len(members) == 1:
            lead = members[0]
            ordered: tuple[DigestArticle, ...] = (lead,)
            newest = min(lead.shown_at, now)
            sources = 1
        else:
            lead = min(members, key=lambda a: a.id)
            ordered = (lead, *(a for a in members if a is not lead))
            newest = min(max(a.shown_at for a in members), now)
            sources = len({source_key(a) for a in members})
        stories.append(Story(
            articles=ordered, sources=sources, newest=newest,
            score=score_story(newest=newest, sources=sources, matched=0, now=now),
        ))
    return apply_matches(stories, queries=queries, now=now) if queries else sorted(
        stories, key=_rank_key)


def apply_matches(stories: Sequence[Story], *, queries: Sequence[tuple[str, Matcher]],
                  now: datetime) -> list[Story]:
    out = []
    for story in stories:
        matched = tuple(
            text for text, matcher in queries
            if any(matcher.match(title=a.title, text=" ".join(a.summary)) is not None
                   for a in story.articles)
        )
        if matched:
            story = replace(story, matched=matched, score=score_story(
                newest=story.newest, sources=story.sources, matched=len(matched), now=now))
        out.append(story)
    out.sort(key=_rank_key)
    return out


def _rank_key(story: Story) -> tuple[float, float, int]:
    return (-story.score, -story.newest.timestamp(), story.lead.id)
