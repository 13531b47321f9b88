"""The ``news`` summarizer: clean, ordered, non-redundant, coherent summaries of news text."""

from __future__ import annotations

import random

import pytest

from bot.config import SummarizerConfig, default_config
from bot.ingest.files import parse_bytes
from bot.newsum import (
    NewsParams,
    NewsSummarizer,
    clean_sentence,
    is_boilerplate,
    is_quote_fragment,
    opens_dangling,
    split_glued,
)
from bot.summarize import ALGORITHMS, build_document, summarize_text
from bot.text import language_kit, split_paragraphs, split_sentences
from tests.conftest import SAMPLE

ARTICLE = "\n".join(
    [
        "The city council approved a budget on Monday that adds forty electric buses to the "
        "public transport fleet.",
        "The new buses will run on six night routes from March, the transport authority said.",
        "Council member Ana Ruiz said the electric buses would cut waiting times at night.",
        "Critics argued that the budget ignores cycling lanes and pedestrian safety.",
        "Bus drivers' unions welcomed the extra night routes but asked for more staff.",
        "The mayor is expected to sign the transport budget next week.",
        "Residents can comment on the new timetables online until the end of February.",
    ]
)


def _sentences(text: str) -> list[str]:
    return [s for p in split_paragraphs(text) for s in split_sentences(p)]


def _positions(summary: tuple[str, ...], text: str) -> list[int]:
    sentences = _sentences(text)
    return [sentences.index(s) for s in summary]


def test_news_is_the_default_and_every_algorithm_stays_selectable() -> None:
    assert SummarizerConfig().algorithm == "news"
    assert default_config().summarizer.algorithm == "news"
    stock = {"lexrank", "lsa", "luhn", "textrank", "kl", "sumbasic", "edmundson", "reduction"}
    assert stock | {"lead", "news"} <= set(ALGORITHMS)
    for algorithm in ALGORITHMS:
        summary = summarize_text(ARTICLE, sentences=2, algorithm=algorithm)
        assert 1 <= len(summary) <= 2, algorithm
        assert _positions(summary, ARTICLE) == sorted(_positions(summary, ARTICLE))


def test_summary_keeps_article_order_and_leads_with_the_news() -> None:
    summary = summarize_text(ARTICLE, title="Council approves forty electric buses",
                             sentences=3, algorithm="news")
    positions = _positions(summary, ARTICLE)
    assert len(summary) == 3
    assert positions == sorted(positions)
    assert positions[0] == 0, "the lead sentence of a news story belongs in its summary"


BOILERPLATE_ARTICLE = "\n".join(
    [
        "By Jane Doe",
        "(CNN) -- The city council approved a budget on Monday that adds forty electric buses "
        "to the public transport fleet.",
        "Read more: Why cities are switching to electric buses",
        "Scroll down for video The new buses will run on six night routes from March, the "
        "transport authority said.",
        "Mayor Lisa Chen (left) and Ana Ruiz pictured at the bus depot on Monday morning.",
        "Click here to subscribe to our transport newsletter.",
        "Critics argued that the budget for buses ignores cycling lanes and pedestrian safety.",
        "Photo: Getty Images",
        "The mayor is expected to sign the transport budget next week.",
    ]
)


def test_boilerplate_bylines_captions_and_datelines_never_reach_a_summary() -> None:
    summary = summarize_text(BOILERPLATE_ARTICLE, sentences=10, algorithm="news")
    text = " ".join(summary)
    for furniture in ("Jane Doe", "Read more", "Click here", "Scroll down", "pictured",
                      "Getty", "(CNN)"):
        assert furniture not in text
    assert summary[0].startswith("The city council approved a budget on Monday")
    assert "The new buses will run on six night routes from March, the transport authority " \
           "said." in summary
    assert len(summary) == 4


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("By Jane Doe", True),
        ("By Jane Doe, Transport Correspondent", True),
        ("Read more: Why cities are switching", True),
        ("READ MORE: the full report", True),
        ("Click here to subscribe.", True),
        ("Photo: Getty Images", True),
        ("Advertisement", True),
        ("By the end of the year, fares had risen by 4%.", False),
        ("Readers wrote in to complain about the timetable.", False),
    ],
)
def test_boilerplate_patterns(sentence: str, expected: bool) -> None:
    assert is_boilerplate(sentence) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("WASHINGTON (Reuters) - The Senate voted on Monday.", "The Senate voted on Monday."),
        ("(CNN)They may not be aliens.", "They may not be aliens."),
        ("LONDON, England (CNN) -- Police said.", "Police said."),
        ("Scroll down for video Gordon Brown warned voters.", "Gordon Brown warned voters."),
        ("The U.S. (and Canada) agreed.", "The U.S. (and Canada) agreed."),
    ],
)
def test_datelines_and_glued_furniture_are_cut(sentence: str, expected: str) -> None:
    assert clean_sentence(sentence) == expected


def test_a_caption_glued_to_a_sentence_is_split_off() -> None:
    assert split_glued("Retirees face debts of £22,000 The cost of divorce can wreck "
                       "retirement, research says.") == [
        "Retirees face debts of £22,000",  # no full stop invented: it is no sentence
        "The cost of divorce can wreck retirement, research says.",
    ]
    assert split_glued("The mayor spoke to The Times on Monday.") == [
        "The mayor spoke to The Times on Monday."
    ]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("He said the plan would work.", True),
        ("But the plan was dropped.", True),
        ("However, the council disagreed.", True),
        ("It was the third such vote.", True),
        ("This is the biggest game.", True),
        ("In addition, fares will rise.", True),
        ("“They will not stop,” she said.", True),
        ("US officials said the plan would work.", False),
        ("IT workers went on strike.", False),
        ("Heavy rain flooded the city.", False),
        ("The council said it would act.", False),
        ("Thursday's vote was close.", False),
    ],
)
def test_dangling_openers(sentence: str, expected: bool) -> None:
    assert opens_dangling(sentence) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("We do not want to prolong the war just to inflict pain on Russia,” Biden said.", True),
        ("“We are not encouraging Ukraine to strike beyond its borders.", True),
        ('"We know where to look," she said.', False),
        ("and then the talks collapsed.", True),
        ("I’m fortunate I was put into this position,’ said Locke.", True),
        ("‘I had a taste of it at Hearts and really enjoyed it.", True),
        ("‘We are ready,’ he said.", False),
        ("The players' union said the deal was fair.", False),
        ("“We do not seek a war between NATO and Russia,” his essay added.", False),
    ],
)
def test_quote_fragments(sentence: str, expected: bool) -> None:
    assert is_quote_fragment(sentence) is expected


def test_near_duplicate_sentences_are_not_both_picked() -> None:
    text = "\n".join(
        [
            "The city council approved forty electric buses for the night routes on Monday.",
            "On Monday the city council approved forty electric buses for the night routes.",
            "Critics argued that the budget ignores cycling lanes and pedestrian safety.",
            "The mayor is expected to sign the transport budget next week.",
        ]
    )
    for count in (2, 3, 10):
        summary = summarize_text(text, sentences=count, algorithm="news")
        positions = _positions(summary, text)
        assert not {0, 1} <= set(positions), summary
    assert _positions(summarize_text(text, sentences=3, algorithm="news"), text) == [0, 2, 3]


def test_a_dangling_opener_is_only_picked_after_its_referent() -> None:
    text = "\n".join(
        [
            "Heavy snow closed schools across the region on Tuesday morning.",
            "Forecasters expect more snow across the region by Thursday evening.",
            "The regional transport authority cancelled all buses and trains for the day.",
            "But the transport authority said snow ploughs would clear the main roads "
            "and the buses and trains would run again on Wednesday.",
            "Parents were advised to check the school websites for updates.",
        ]
    )
    kit = language_kit("english")
    document = build_document(text, title=None, kit=kit)
    # the "But" sentence carries the most content; without a lead prior it would be first
    params = NewsParams(lead_weight=0.0, max_words=60, quote_weight=0.0)
    for count in (1, 2, 3):
        picked = [str(s) for s in NewsSummarizer(kit, params=params)(document, count)]
        assert len(picked) == count
        sentences = _sentences(text)
        for sentence in picked:
            position = sentences.index(sentence)
            if opens_dangling(sentence):
                assert sentences[position - 1] in picked, picked
    everything = summarize_text(text, sentences=5, algorithm="news")
    assert len(everything) == 5, "with no alternative left, the referent comes along"


def test_very_short_articles() -> None:
    one = "The city council approved forty electric buses on Monday."
    assert summarize_text(one, sentences=3, algorithm="news") == (one,)
    two = one + " Critics said the money should go to cycling lanes."
    assert summarize_text(two, sentences=3, algorithm="news") == tuple(split_sentences(two))
    assert summarize_text("Too short.", sentences=3, algorithm="news") == ("Too short.",)
    assert summarize_text("   \n\n  ", sentences=3, algorithm="news") == ()
    assert summarize_text("By Jane Doe\nRead more: other news", algorithm="news") == ()


def test_very_long_article_gives_a_sane_summary() -> None:
    rng = random.Random(5)
    topics = ("buses", "trains", "budget", "council", "fares", "routes", "drivers", "mayor",
              "timetable", "depot", "cycling", "safety", "tickets", "stations", "night")
    sentences = [
        f"The {rng.choice(topics)} and the {rng.choice(topics)} were discussed again, "
        f"officials said in statement number {i} about the {rng.choice(topics)}."
        for i in range(500)
    ]
    text = "\n".join(" ".join(sentences[i : i + 5]) for i in range(0, 500, 5))
    summary = summarize_text(text, sentences=3, algorithm="news")
    assert len(summary) == 3
    positions = _positions(summary, text)
    assert positions == sorted(positions)
    assert len(set(summary)) == 3


def test_overlong_sentence_is_cut_with_an_ellipsis() -> None:
    long_sentence = "The council approved " + ", ".join(f"route {i}" for i in range(200)) + "."
    text = long_sentence + "\nThe mayor will sign the transport budget next week."
    summary = summarize_text(text, sentences=1, algorithm="news", max_sentence_chars=300)
    assert len(summary) == 1
    assert all(len(s) <= 300 for s in summary)
    both = summarize_text(text, sentences=2, algorithm="news", max_sentence_chars=300)
    assert both[0].endswith("…") and len(both[0]) <= 300


def test_sample_article_summary_reads_well() -> None:
    draft = parse_bytes(SAMPLE.read_bytes(), name=SAMPLE.name, title_limit=120,
                        suffix=SAMPLE.suffix)
    for count in (3, 5):
        summary = summarize_text(draft.text, title=draft.title, sentences=count,
                                 algorithm="news")
        assert len(summary) == count
        # the title was cut from the first sentence: the summary does not restate it
        assert draft.title is not None and draft.title.startswith("President Biden on Tuesday")
        assert not any(s.startswith("President Biden on Tuesday confirmed") for s in summary)
        sentences = _sentences(draft.text)
        for sentence in summary:
            assert not is_quote_fragment(sentence), sentence
            position = sentences.index(sentence)
            assert not opens_dangling(sentence) or sentences[position - 1] in summary
        assert not any("prolong the war" in s for s in summary)
