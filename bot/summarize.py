"""Extractive summaries with Sumy, offline, off the event loop.

Every Sumy algorithm is selectable by name (:data:`ALGORITHMS`). Text goes through
:mod:`bot.text` (nupunkt), never NLTK data. Summaries keep the article's sentence order, drop
duplicate sentences and cut a sentence longer than ``max_sentence_chars`` at a word boundary
with an ellipsis.

:func:`summarize_text` is the pure CPU function; :class:`Summarizer` runs it in a worker thread
so a Slack ack or a Discord heartbeat never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.summarizers.edmundson import EdmundsonSummarizer
from sumy.summarizers.kl import KLSummarizer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.reduction import ReductionSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer

from bot.config import SummarizerConfig
from bot.errors import InputError
from bot.language import AUTO, resolve_language, warm_detector
from bot.newsum import news_factory, restates
from bot.text import (
    LanguageKit,
    cap_text,
    first_sentences,
    language_kit,
    normalize_space,
    shorten,
    words,
)

log = logging.getLogger(__name__)

# Words that mark a sentence as weak for Edmundson's cue method.
_STIGMA = ("click", "subscribe", "advertisement", "newsletter", "cookies", "copyright", "read")


def build_document(text: str, *, title: str | None, kit: LanguageKit,
                   max_sentences: int | None = None) -> ObjectDocumentModel:
    """Sumy's document model from one-paragraph-a-line text; the title becomes a heading.

    With ``max_sentences``, only the article's first sentences (the rest is not even split),
    and at most :data:`MAX_PARAGRAPH_CHARS` of one paragraph.
    """
    paragraphs: list[Paragraph] = []
    tok = kit.tokenizer
    heading = [Sentence(title, tok, is_heading=True)] if title else []
    room = max_sentences
    # split_paragraphs, lazily: nothing after the last sentence read is even normalised
    lines = (normalize_space(line) for line in text.splitlines())
    for i, para in enumerate(p for p in lines if p):
        if room is not None and room <= 0:
            break
        split = (list(tok.to_sentences(para)) if room is None else
                 first_sentences(para, room, max_chars=MAX_PARAGRAPH_CHARS,
                                 language=tok.language, normalized=True))
        if room is not None:
            room -= len(split)
        sentences = [Sentence(s, tok) for s in split]
        if i == 0:
            sentences = heading + sentences
        if sentences:
            paragraphs.append(Paragraph(sentences))
    return ObjectDocumentModel(paragraphs)


def _stock(cls: type[Any]) -> Callable[[LanguageKit, str | None], Any]:
    def make(kit: LanguageKit, title: str | None) -> Any:
        summarizer = cls(kit.stemmer)
        summarizer.stop_words = kit.stop_words
        return summarizer

    return make


def _edmundson(kit: LanguageKit, title: str | None) -> Any:
    # Sensible defaults: cue words from the title (bonus) and boilerplate (stigma), stop words
    # as null words; the title method only when there is a title.
    title_words = [w.lower() for w in words(title or "") if w.lower() not in kit.stop_words]
    summarizer = EdmundsonSummarizer(
        kit.stemmer,
        cue_weight=1.0,
        key_weight=1.0,
        title_weight=1.0 if title_words else 0.0,
        location_weight=1.0,
    )
    summarizer.bonus_words = title_words or ["said", "announced", "reported"]
    summarizer.stigma_words = _STIGMA
    summarizer.null_words = kit.stop_words
    return summarizer


class _Lead:
    """The first N sentences: the baseline every news summarizer is measured against."""

    def __call__(self, document: ObjectDocumentModel, count: int) -> tuple[Sentence, ...]:
        return tuple(document.sentences[:count])


_FACTORIES: dict[str, Callable[[LanguageKit, str | None], Any]] = {
    "lexrank": _stock(LexRankSummarizer),
    "lsa": _stock(LsaSummarizer),
    "luhn": _stock(LuhnSummarizer),
    "textrank": _stock(TextRankSummarizer),
    "kl": _stock(KLSummarizer),
    "sumbasic": _stock(SumBasicSummarizer),
    "edmundson": _edmundson,
    "reduction": _stock(ReductionSummarizer),
    "lead": lambda kit, title: _Lead(),
    "news": news_factory,
}


ALGORITHMS: tuple[str, ...] = tuple(_FACTORIES)

# The most sentences of an article a summarizer reads: its first ones (the rest is not even
# split into sentences). Sumy's stock algorithms compare every sentence with every other
# (LexRank, TextRank, Reduction: pairs of sentences in Python; LSA: an SVD) and KL-Sum is
# cubic, so their cost is bounded by bounding what they read: 150 sentences (KL-Sum: 60), about
# a second at most each (bench/bench_summary_cost.py --algorithms all). News articles run
# 15-50 sentences (2 of the 2,089 BBC articles pass 150, 15 pass 60). "news" is linear in
# what it reads and ranks only the first bot.newsum.RANK_WINDOW candidates; the sentences
# after those count in its centrality.
STOCK_MAX_SENTENCES = 150
NEWS_MAX_SENTENCES = 1_000
# ... and of a paragraph, at most this much is split into sentences (8,192 doubled 4 times): a
# news paragraph is under 2,000 characters; a file on one line can be the whole 200,000.
MAX_PARAGRAPH_CHARS = 65_536
_MAX_SENTENCES = {"kl": 60, "news": NEWS_MAX_SENTENCES}


def summarize_text(
    text: str,
    *,
    title: str | None = None,
    sentences: int = 3,
    algorithm: str = "news",
    language: str = "english",
    max_sentence_chars: int = 600,
    declared_language: str | None = None,
) -> tuple[str, ...]:
    """Summarise ``text`` (one paragraph a line) into at most ``sentences`` sentences.

    ``language`` names the Sumy language; ``"auto"`` takes ``declared_language`` (the tag a
    feed or page gave) when supported, else detects it (:mod:`bot.language`).

    CPU-bound and synchronous on purpose: call it through :class:`Summarizer` from async code.
    """
    if sentences < 1:
        raise InputError(f"a summary needs at least 1 sentence, not {sentences}")
    if algorithm not in ALGORITHMS:
        raise InputError(
            f"unknown summarizer algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}"
        )
    text = cap_text(text)  # the article text cap, whoever calls
    if language == AUTO:
        language = resolve_language(declared_language, text)
    kit = language_kit(language)
    limit = _MAX_SENTENCES.get(algorithm, STOCK_MAX_SENTENCES)
    document = build_document(text, title=title, kit=kit, max_sentences=limit)
    if not document.sentences:
        return ()
    if len(document.sentences) <= sentences and algorithm != "news":
        # nothing to choose: the whole article ("news" still drops boilerplate and repeats)
        picked: Sequence[Any] = document.sentences
    else:
        summarizer = _FACTORIES[algorithm](kit, title)
        # Sumy's power methods divide by a zero norm on degenerate inputs (sentences sharing no
        # word); numpy's warning is noise here, the ranking still comes back.
        try:
            with numpy.errstate(divide="ignore", invalid="ignore"):
                picked = summarizer(document, sentences)
                restated = sum(restates(title, str(p)) for p in picked)
                if restated and algorithm != "news":  # ask again for what is dropped below
                    picked = summarizer(document, sentences + restated)
        except Exception as exc:
            # A failure inside an algorithm (LSA's SVD not converging, seen once on 2,089 BBC
            # articles) must not lose the article, nor stop a batch: fall back to its lead.
            log.warning("%s failed on a %d-sentence text (%s: %s); using the lead instead",
                        algorithm, len(document.sentences), type(exc).__name__, exc)
            picked = document.sentences[:sentences]
    out: list[str] = []
    seen: set[str] = set()
    for sentence in picked:
        plain = str(sentence).strip()
        key = re.sub(r"\W+", " ", plain.lower()).strip()
        if not plain or key in seen or restates(title, plain):
            continue
        seen.add(key)
        out.append(shorten(plain, max_sentence_chars))
    return tuple(out[:sentences])


class Summarizer:
    """Summaries with the configured defaults, computed in a worker thread."""

    def __init__(self, config: SummarizerConfig, *, executor: Executor | None = None) -> None:
        self.config = config
        if config.language != AUTO:
            language_kit(config.language)  # fail at start-up, not at the first article
        else:  # load the language detector's model now (~1.5 s), not inside the first ingest
            warm_detector()
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix="summarize"
        )

    async def summarize(
        self,
        text: str,
        *,
        title: str | None = None,
        sentences: int | None = None,
        algorithm: str | None = None,
        language: str | None = None,
    ) -> tuple[str, ...]:
        """``language``: the article's declared language tag, used when the configured
        language is ``"auto"``."""
        job = self.summary_job(text, title=title, sentences=sentences, algorithm=algorithm,
                               language=language)
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    def summary_job(
        self,
        text: str,
        *,
        title: str | None = None,
        sentences: int | None = None,
        algorithm: str | None = None,
        language: str | None = None,
    ) -> Callable[[], tuple[str, ...]]:
        """What :meth:`summarize` runs in the worker, to run there with other work
        (:meth:`run`): the engine's ingest does its listeners' analysis in the same trip."""
        return partial(
            summarize_text,
            text,
            title=title,
            sentences=self.config.sentences if sentences is None else sentences,
            algorithm=algorithm or self.config.algorithm,
            language=self.config.language,
            max_sentence_chars=self.config.max_sentence_chars,
            declared_language=language,
        )

    async def run(self, func: Callable[..., Any], /, *args: Any) -> Any:
        """Run other CPU-bound work (HTML extraction, matching) on the same workers."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def close(self) -> None:
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
