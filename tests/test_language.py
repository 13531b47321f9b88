"""Each article in its own language: declared tags, detection with a shipped model, German
ordinals and dates that are no sentence end, abbreviations in French and Spanish, and a clear
fallback for a language Sumy cannot stem."""

from __future__ import annotations

import logging

import pytest

from bot.language import detect_language, normalize_language, resolve_language
from bot.summarize import summarize_text
from bot.text import language_kit, split_sentences

GERMAN = ("Unter diesem Motto findet am 14. September um 13 Uhr eine Demonstration vor dem "
          "Rathaus statt. Die Kirche wurde im 15. Jahrhundert gebaut und 1890 erweitert. "
          "Der 1. FC Köln gewann am Samstag gegen Bremen. Die Zahl der Besucher stieg auf 15. "
          "Die Polizei rechnet mit mehreren hundert Teilnehmern, z. B. aus Bonn.")


def test_german_ordinals_and_dates_do_not_end_sentences() -> None:
    assert split_sentences(GERMAN, language="german") == [
        "Unter diesem Motto findet am 14. September um 13 Uhr eine Demonstration vor dem "
        "Rathaus statt.",
        "Die Kirche wurde im 15. Jahrhundert gebaut und 1890 erweitert.",
        "Der 1. FC Köln gewann am Samstag gegen Bremen.",
        "Die Zahl der Besucher stieg auf 15.",
        "Die Polizei rechnet mit mehreren hundert Teilnehmern, z. B. aus Bonn.",
    ]


@pytest.mark.parametrize(("language", "text", "count"), [
    ("french", "Le 14. juillet, M. Dupont est arrivé à Paris. Mme Durand l'attendait.", 2),
    ("spanish", "El Sr. García llegó a EE.UU. el 3 de mayo. La Sra. López no vino.", 2),
    ("spanish", "La reunión será el 1. de octubre en Madrid. Asistirán 40 alcaldes.", 2),
    ("english", "The score was 15. Then it rained on Sept. 14 in the valley.", 2),
    # two-letter words the English model takes for abbreviations ("an.", "la.", "mar.")
    ("german", "Sie kam am 5. Mai 2019 an. Es regnete den ganzen Tag.", 2),
    ("german", "Der 2. Weltkrieg endete 1945. Danach kam der Frieden.", 2),
    ("german", "Das Spiel endete am 3. 10. 2019 mit einem Sieg. Alle jubelten.", 2),
    ("german", "Die Sitzung ist am 3. Feb. um 10 Uhr. Alle sind eingeladen.", 2),
    ("french", "La manifestation aura lieu le 1er mai à Paris. Elle sera grande.", 2),
    ("french", "Selon l'art. 5 de la loi, c'est interdit. Le juge l'a confirmé.", 2),
    ("french", "Il parle de la mer et de la. Ensuite il part.", 2),
    ("spanish", "El 3.º piso está cerrado desde el 2 de mayo. Los vecinos protestan.", 2),
    ("spanish", "El art. 3 de la Constitución lo prohíbe. Nadie lo discute.", 2),
    ("spanish", "Los EE. UU. anunciaron sanciones. China respondió.", 2),
    ("spanish", "Se fueron al mar. Luego volvieron a casa.", 2),
])
def test_abbreviations_and_dates_by_language(language: str, text: str, count: int) -> None:
    assert len(split_sentences(text, language=language)) == count


def test_tags_and_names_map_to_sumy_languages() -> None:
    assert normalize_language("de-DE") == "german"
    assert normalize_language("pt_BR") == "portuguese"
    assert normalize_language("Español") == "spanish"
    assert normalize_language("zh-CN") is None and normalize_language("") is None


def test_detection_ships_its_model() -> None:
    found = detect_language("Le gouvernement a présenté mercredi un projet de loi sur "
                            "l'énergie qui prévoit de nouvelles centrales.")
    assert found is not None and found[0] == "fr" and found[1] > 0.9
    assert detect_language("OK, 42!") is None  # too little to tell


def test_declared_wins_detection_decides_unknown_falls_back_clearly(
        caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_language("de", "This text is English, but the page says German.") == "german"
    assert resolve_language(None, GERMAN) == "german"
    turkish = ("Bu sabah İstanbul'da büyük bir toplantı yapıldı ve birçok kişi katıldı, "
               "yetkililer açıkladı. Toplantıda şehrin ulaşım sorunları konuşuldu.")
    with caplog.at_level(logging.INFO, logger="bot.language"):
        assert resolve_language(None, turkish) == "english"
    assert "no stemmer or stop words" in caplog.text


def test_a_language_without_sumy_stop_words_still_summarises() -> None:
    kit = language_kit("dutch")
    assert kit.stop_words == frozenset() and kit.stemmer("fietsen")
    text = ("De gemeente Utrecht bouwt een nieuwe fietsenstalling bij het station. "
            "Er komen 5000 plekken bij. De bouw begint in maart en duurt twee jaar. "
            "Fietsers zijn blij met het plan. De kosten bedragen twintig miljoen euro.")
    assert summarize_text(text, sentences=2, language="auto")


def test_auto_summaries_split_german_by_german_rules() -> None:
    summary = summarize_text(GERMAN, sentences=5, language="auto", algorithm="lead")
    assert not any(s.endswith((" 14.", " 15.", " 1.")) for s in summary[:3]), summary


def test_fast_detection_counts_and_scores_as_py3langid_does() -> None:
    """The vectorised feature count gives py3langid's own counts, in its order, and the same
    language and confidence to the last bit (bot.language._fast_identifier_class)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

    from bot.language import _identifier

    fast = _identifier()
    assert type(fast) is not LanguageIdentifier  # the fast path is in use on this py3langid
    slow = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    samples = [
        GERMAN,
        "Le gouvernement a présenté mercredi un projet de loi sur l'énergie.",
        "El Sr. García llegó a EE.UU. el 3 de mayo. La Sra. López no vino.",
        "Москва — столица России, крупнейший по численности населения город страны.",
        "東京は日本の首都であり、世界最大の都市圏を持つ。",
        "Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "SHOUTING HEADLINE IN CAPITALS ABOUT THE ELECTION",
        "ab", "", "!!! ??? ...", "\u00e9", "x" * 5,
        "The minister said on Tuesday that the budget would be balanced by 2027. " * 40,
    ]
    for text in samples:
        data = slow._encode(text)
        counts = visit_counts(slow.tk_nextmove, slow._rowbase, slow.tk_output, data)
        ours = fast._raw_score(data)
        theirs = slow._raw_score(data)
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), text[:40]
        assert fast.classify(text) == slow.classify(text), text[:40]
        assert counts is None or len(counts) > 0
