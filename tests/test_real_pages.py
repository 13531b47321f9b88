"""Real pages (trimmed, tests/data/pages): the article is read, its furniture never reaches
the summary, no sentence is cut inside a date or an ordinal, the title is the article's and
the summary does not restate it."""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path

import pytest

from bot.ingest.pages import NotAnArticle, article_from_page
from bot.language import resolve_language
from bot.models import ArticleDraft
from bot.newsum import restates
from bot.summarize import summarize_text
from bot.text import split_paragraphs, split_sentences
from tests.shared import once

PAGES = Path(__file__).parent / "data" / "pages"
SPECS = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in PAGES.glob("*.json")}
NAMES = sorted(name for name, spec in SPECS.items() if not spec.get("refused"))
REFUSED = sorted(name for name, spec in SPECS.items() if spec.get("refused"))
# a sentence that ends on "14." (or "1er", "3.º") while the paragraph goes on
_ENDS_ON_NUMBER = re.compile(r"(?:^|\s)(?:\d{1,2}\.|\d{1,2}(?:er|e|º|ª|\.º|\.ª))$")


@functools.cache
def _page(name: str) -> tuple[dict[str, list[str]], ArticleDraft]:
    """A page read once per run, whichever worker runs its tests (the first page whose date
    needs dateparser costs ~4.5 s of CPU: its every locale loaded)."""
    spec: dict[str, list[str]] = SPECS[name]
    draft = once(f"real-page-{name}", lambda: article_from_page(
        (PAGES / f"{name}.html").read_bytes(), url=str(spec["url"]), charset=None,
        min_text_chars=200, title_limit=120))
    return spec, draft


@pytest.mark.parametrize("name", NAMES)
def test_real_page_text_summary_and_title(name: str) -> None:
    spec, draft = _page(name)
    for snippet in spec["with"]:
        assert snippet in draft.text, snippet
    summary = summarize_text(draft.text, title=draft.title, sentences=5,
                             language="auto", declared_language=draft.language)
    assert summary
    for sentence in summary:
        for snippet in spec["without"]:
            assert snippet not in sentence, (snippet, sentence)
        assert not restates(draft.title, sentence), sentence
    assert draft.title and not draft.title.startswith(("Suggested", "Related"))


@pytest.mark.parametrize("name", NAMES)
def test_real_page_sentences_are_not_cut_inside_dates(name: str) -> None:
    _, draft = _page(name)
    language = resolve_language(draft.language, draft.text, default="english")
    for paragraph in split_paragraphs(draft.text):
        sentences = split_sentences(paragraph, language=language)
        for sentence, following in itertools.pairwise(sentences):
            assert not _ENDS_ON_NUMBER.search(sentence), (sentence[-60:], following[:40])
            assert not following[:1].islower(), (sentence[-60:], following[:40])


@pytest.mark.parametrize("name", REFUSED)
def test_a_page_without_an_article_is_refused_not_summarised(name: str) -> None:
    """A page whose story the browser renders with JavaScript shows a parser only its
    template ("{{ content.status === 'published' ? … }}"): refused in one clear line."""
    with pytest.raises(NotAnArticle, match=r"characters of article text|no article text"):
        _page(name)


def test_recall_retry_reads_a_real_page_that_precision_mode_empties() -> None:
    """hundeverein-kreisunna.de: a table layout whose story is one <p> of <br> lines.
    trafilatura's favor_precision finds nothing on it (it skips the baseline rescue); the
    recall pass reads the whole story, so the page is summarised, not refused."""
    import copy

    from bot.ingest.html import _run, parse_page, prune_furniture

    html = (PAGES / "hundeverein-kreisunna.de.html").read_text(encoding="utf-8")
    tree = parse_page(html)
    prune_furniture(tree)
    assert _run(copy.deepcopy(tree), None, precise=True) is None  # the premise
    _, draft = _page("hundeverein-kreisunna.de")
    assert draft.text.startswith("Beate und Norbert Olschewski entschlossen sich")
    assert draft.text.endswith("denn er ist ein Familienmitglied und unser Freund.")
    assert "Startseite" not in draft.text
