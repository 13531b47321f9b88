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
from bot.language import AUTO, resolve_language
from bot.newsum import news_factory, restates
from bot.text import (
    LanguageKit,
    language_kit,
    shorten,
    split_paragraphs,
    words,
)

log = logging.getLogger(__name__)

# Words that mark a sentence as weak for Edmundson's cue method.
_STIGMA = ("click", "subscribe", "advertisement", "newsletter", "cookies", "copyright", "read")


def build_document(text: str, *, title: str | None, kit: LanguageKit) -> ObjectDocumentModel:
    """Sumy's document model from one-paragraph-a-line text; the title becomes a heading."""
    paragraphs: list[Paragraph] = []
    tok = kit.tokenizer
    heading = [Sentence(title, tok, is_heading=True)] if title else []
    for i, para in enumerate(split_paragraphs(text)):
        sentences = [Sentence(s, tok) for s in tok.to_sentences(para)]
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
    if language == AUTO:
        language = resolve_language(declared_language, text)
    kit = language_kit(language)
    document = build_document(text, title=title, kit=kit)
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
        except (ArithmeticError, ValueError, numpy.linalg.LinAlgError) as exc:
            # A numeric failure inside an algorithm (LSA's SVD not converging, seen once on
            # 2,089 BBC articles) must not lose the article: fall back to its lead.
            log.warning("%s failed on a %d-sentence text (%s); using the lead instead",
                        algorithm, len(document.sentences), exc)
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
        job = partial(
            summarize_text,
            text,
            title=title,
            sentences=self.config.sentences if sentences is None else sentences,
            algorithm=algorithm or self.config.algorithm,
            language=self.config.language,
            max_sentence_chars=self.config.max_sentence_chars,
            declared_language=language,
        )
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def run(self, func: Callable[..., Any], /, *args: Any) -> Any:
        """Run other CPU-bound work (HTML extraction, matching) on the same workers."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def close(self) -> None:
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
