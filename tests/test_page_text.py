"""What a page's text looks like after extraction: page furniture recognised by markup and by
shape in several languages, line breaks inside sentences, bullets, datelines, titles without
site suffixes, one rule for the source name, and the page's declared language."""

from __future__ import annotations

import logging

import pytest

from bot.ingest.html import _weak, extract_html, prune_furniture
from bot.ingest.pages import article_from_page, publication, strip_site_suffix
from bot.newsum import clean_sentence, is_furniture, unfinished
from bot.summarize import summarize_text

PARAS = [
    "Die Stadt hat am Dienstag den Bau einer neuen Straßenbahnlinie beschlossen, die ab 2027 "
    "den Norden mit dem Hauptbahnhof verbinden soll.",
    "Der Stadtrat stimmte mit großer Mehrheit für das Projekt, das rund 120 Millionen Euro "
    "kosten wird und zum größten Teil vom Land bezahlt wird.",
    "Unter diesem Motto findet am 14. September um 13 Uhr eine Demonstration vor dem Rathaus "
    "statt, zu der mehrere Verbände aufgerufen haben.",
    "Die Kirche am Markt wurde im 15. Jahrhundert gebaut und muss für die Trasse nicht "
    "weichen, wie die Verwaltung betonte.",
    "Anwohner hatten zuvor gegen den Lärm während der Bauzeit protestiert und eine "
    "Bürgerversammlung gefordert.",
]


def page(body: str, *, lang: str = "de", title: str = "Neue Straßenbahn | stadtblatt.de",
         head: str = "") -> str:
    return (f"<html lang='{lang}'><head><title>{title}</title>{head}</head><body>{body}"
            "</body></html>")


FURNITURE_PAGE = page(
    "<header><nav><a href='/'>Start</a></nav></header>"
    "<article><h1>Neue Straßenbahn</h1>"
    "<div class='article-byline'>Von Anna Muster, 12.09.2019, 05:28 Uhr</div>"
    f"<p>{PARAS[0]}</p>"
    "<figure><img src='a.jpg'><figcaption>Foto: Max Mustermann / dpa</figcaption></figure>"
    f"<p>{PARAS[1]}<span class='author-tooltip' aria-hidden='true'>Anna Muster schreibt "
    "seit 2010 über Verkehr und Stadtentwicklung.</span></p>"
    "<div class='newsletter-signup'><p>Abonnieren Sie unseren Newsletter und verpassen Sie "
    "nichts mehr.</p></div>"
    f"<p>{PARAS[2]}</p>"
    "<aside class='related-articles'><ul><li><a href='/a'>Bahn streikt erneut</a></li>"
    "<li><a href='/b'>Neue Radwege in der Altstadt</a></li></ul></aside>"
    f"<p>{PARAS[3]}</p><p>{PARAS[4]}</p>"
    "<div class='ad-disclosure'>Dieser Artikel enthält Affiliate-Links.</div>"
    "</article>"
    "<div id='cookie-consent'>Wir verwenden Cookies, um unsere Website zu verbessern. "
    "<button>Alle akzeptieren</button></div>"
)


def test_furniture_named_in_the_markup_never_reaches_the_text() -> None:
    extracted = extract_html(FURNITURE_PAGE, url="https://stadtblatt.de/bahn", min_chars=200)
    assert extracted is not None
    for paragraph in PARAS:
        assert paragraph in extracted.text
    for furniture in ("Anna Muster", "Foto:", "Newsletter", "Bahn streikt", "Affiliate",
                      "Cookies", "05:28"):
        assert furniture not in extracted.text, furniture
    assert extracted.language == "de"


def test_a_furniture_named_wrapper_holding_the_story_is_kept() -> None:
    import lxml.html

    tree = lxml.html.document_fromstring(page(
        "<div class='article-body share-enabled'>" + "".join(f"<p>{p}</p>" for p in PARAS)
        + "</div><div class='share'>Teilen</div>"))
    assert prune_furniture(tree) == 1
    assert PARAS[0] in tree.text_content() and "Teilen" not in tree.text_content()


def test_page_draft_source_title_language_and_summary() -> None:
    draft = article_from_page(FURNITURE_PAGE.encode(), url="https://www.stadtblatt.de/bahn",
                              charset="utf-8", min_text_chars=200, title_limit=120)
    assert draft.title == "Neue Straßenbahn"  # no "| stadtblatt.de"
    assert draft.source == "stadtblatt.de" and draft.language == "de"
    summary = summarize_text(draft.text, title=draft.title, sentences=3, language="auto",
                             declared_language=draft.language)
    assert len(summary) == 3
    assert any("am 14. September um 13 Uhr" in s for s in summary + tuple(PARAS[2:3]))
    assert not any(s.endswith(("am 14.", "im 15.")) for s in summary)


def test_line_breaks_inside_a_sentence_and_bullets() -> None:
    body = ("<article><p>The actress, who in 2008, won the<br>Africa Movie Academy Award for "
            "Best Actress in a Leading Role, has taken a new role in a film about the river."
            "<br>She starts filming next month in Lagos, her agent said on Friday.</p>"
            "<ul><li>- The film is set in 1960 and follows three sisters.</li>"
            "<li>It will be released in cinemas across West Africa next year.</li></ul>"
            + "".join(f"<p>{p}</p>" for p in (
                "The studio said the budget was the largest it had ever approved.",
                "Critics welcomed the casting, saying the story needed an experienced lead.",
            )) + "</article>")
    extracted = extract_html(page(body, lang="en", title="Actress takes role"),
                             url="https://films.example/a")
    assert extracted is not None
    lines = extracted.text.splitlines()
    assert ("The actress, who in 2008, won the Africa Movie Academy Award for Best Actress in "
            "a Leading Role, has taken a new role in a film about the river.") in lines
    assert "She starts filming next month in Lagos, her agent said on Friday." in lines
    assert not any(line.startswith(("- ", "• ")) for line in lines)


@pytest.mark.parametrize("sentence", [
    "5:45 AM PST 11/19/2019 by Patrick Shanley.",
    "This post contains references to products from one or more of our advertisers.",
    "Foto: dpa/Christoph Soeder", "Fotocredit: Stadt Münster ©", "Crédit photo : AFP",
    "Sign up for our morning newsletter.", "Abonnieren Sie unseren Newsletter!",
    "To view the full story, please subscribe.", "Suscríbete para seguir leyendo.",
    "By continuing to browse the site you agree to our use of cookies.",
    "Also on CNN: The world's best beaches", "Lesen Sie auch: Bahn streikt erneut",
    "À lire aussi : la réforme des retraites", "Lee también: El Gobierno aprueba el plan",
    "Wir verwenden Cookies, um unsere Website für Sie zu verbessern.",
    "Nous utilisons des cookies pour améliorer votre expérience.",
    "Dienstag, 4. Juni 2019", "Updated 10:32 AM ET, Mon March 2, 2020",
    "Dieser Artikel enthält Affiliate-Links.", "Anzeige", "Related: Bahn streikt erneut",
    "We may earn a commission when you buy through links on our site.",
    # wire and page chrome of English news pages
    "FILE PHOTO: A Microsoft logo is seen in Los Angeles, California U.S. November 7, 2017. "
    "REUTERS/Lucy Nicholson/File Photo",
    "Reporting by Jane Doe in Seattle; Editing by John Smith.",
    "Our Standards: The Thomson Reuters Trust Principles.",
    "This advertisement has not loaded yet, but your article continues below.",
    "Story continues below advertisement.",
    "This material may not be published, broadcast, rewritten or redistributed.",
    "Postmedia is committed to maintaining a lively but civil forum for discussion.",
    "Get the latest news delivered to your inbox every morning.",
    "Thanks for signing up!", "You can unsubscribe at any time.",
    "By signing up you agree to our Terms of Use and Privacy Policy.",
    "Have a tip? Email us at tips@example.com.", "Photo by Getty Images.",
    "This article was originally published on The Conversation.",
])
def test_furniture_by_shape_in_several_languages(sentence: str) -> None:
    assert is_furniture(sentence)


@pytest.mark.parametrize("sentence", [
    "The European Commission said on Tuesday it would investigate the deal.",
    "Netflix added 5 million subscribers in the quarter, the company said.",
    "The president said he would sign the bill by Friday.",
    "Am 13. Mai 2014 hatte der Europäische Gerichtshof ein Urteil gefällt.",
    "Die Stadt hat am Dienstag den Bau einer neuen Straßenbahnlinie beschlossen.",
    "Users could not log in to their accounts on Tuesday, the company said.",
    "Google said it would stop using third-party cookies in its Chrome browser next year.",
    "Users can subscribe for $5 a month, the company said.",
    "Also on Friday, France's industrial output for December was released.",
    "Also in focus will be bankruptcy laws and the slow pace of the legal system.",
    "They hope colour will make their publications more attractive to advertisers.",
    "Sponsored by the UK's Royal Bank of Scotland, the survey found 39 nations agreed.",
    "Related stocks fell sharply after the announcement on Monday.",
    "The study was first published in Nature in 2019, the researchers said.",
    "Reporting by the newspaper led to the minister's resignation in May.",
    "The photos were taken by a drone over the harbour on Sunday.",
])
def test_news_sentences_are_not_furniture(sentence: str) -> None:
    assert not is_furniture(sentence)


@pytest.mark.parametrize(("raw", "clean"), [
    ("London (CNN)It was the interview of the year.", "It was the interview of the year."),
    ("Hong Kong (CNN Business)A muddled view of the economy.", "A muddled view of the economy."),
    ("Frankfurt/Main (dpa) - Der Dax stieg.", "Der Dax stieg."),
    ("(EFE).- El presidente llegó a Lima.", "El presidente llegó a Lima."),
    ("São Paulo, Brasil (AFP) — Lula disse.", "Lula disse."),
    ("WASHINGTON (Reuters) - The Fed held rates.", "The Fed held rates."),
    ("Apple (AAPL) shares rose 3%.", "Apple (AAPL) shares rose 3%."),
    ("Die Demo (Foto: dpa) war groß.", "Die Demo war groß."),
    ("- A bullet kept as a line.", "A bullet kept as a line."),
    ("Trump speaks in the Oval Office. (AP Photo/Evan Vucci)", "Trump speaks in the Oval Office."),
    ("Microsoft's logo in Paris. (Reuters files)", "Microsoft's logo in Paris."),
    ("Lo informó Irene Vélez. (I)", "Lo informó Irene Vélez."),
    ("He was restrained (first photo), then left.", "He was restrained (first photo), then left."),
])
def test_datelines_credits_and_bullets_are_cut(raw: str, clean: str) -> None:
    assert clean_sentence(raw) == clean


def test_lines_that_are_no_sentence() -> None:
    assert unfinished("Here's what the early reviews say:")
    assert unfinished("Bahn streikt erneut")  # another story's headline
    assert not unfinished("booyah!") and not unfinished("He left.")
    summary = summarize_text("Here's what the early reviews say:\nThe film is a triumph, "
                             "the first critic wrote after the premiere in Cannes.\nbooyah!",
                             sentences=3)
    assert not any(s.endswith(":.") or s.endswith("!.") for s in summary)


def test_titles_and_sources() -> None:
    assert strip_site_suffix("Heizung entlüften | heizung.de", names=["heizung.de"]) == (
        "Heizung entlüften")
    assert strip_site_suffix("BBC News - Election: what we know", names=["BBC News"]) == (
        "Election: what we know")
    assert strip_site_suffix("War and Peace - a review", names=["Guardian"]) == (
        "War and Peace - a review")
    assert strip_site_suffix("Kenia brindará apoyo para repatriar restos | Seguridad | Noticias"
                             " | El Universo", names=["El Universo"]) == (
        "Kenia brindará apoyo para repatriar restos")
    assert strip_site_suffix("Review | The Leftovers season two | HBO", names=["HBO"]) == (
        "Review | The Leftovers season two")
    assert publication("Copyright 2014", "https://www.x.org/a") == "x.org"
    assert publication("Hosted", "https://x.org/") == "x.org"
    assert publication("https://x.org", "https://x.org/") == "x.org"
    assert publication("The Guardian", "https://www.theguardian.com/x") == "The Guardian"
    # an edition or section is no publication (Reuters declares og:site_name "U.S.")
    assert publication("U.S.", "https://www.reuters.com/article/x",
                       publishers=["Reuters"]) == "Reuters"
    assert publication("World", "https://www.reuters.com/article/x") == "reuters.com"
    assert publication("Politik", "https://www.spiegel.de/x") == "spiegel.de"


def test_the_json_ld_publisher_names_the_source_when_og_site_name_is_a_section() -> None:
    head = ("<meta property='og:site_name' content='U.S.'/>"
            "<meta property='og:title' content='Parasite scores historic upset at SAG awards'/>"
            "<script type='application/ld+json'>{\"@context\":\"http://schema.org\","
            "\"@type\":\"NewsArticle\",\"headline\":\"Parasite scores historic upset\","
            "\"publisher\":{\"@type\":\"Organization\",\"name\":\"Reuters\"}}</script>")
    body = "".join(f"<p>{p}</p>" for p in PARAS)
    draft = article_from_page(page(f"<article>{body}</article>", lang="de",
                                   title="Parasite scores historic upset | Reuters", head=head)
                              .encode(), url="https://www.reuters.com/article/us-awards-sag",
                              charset="utf-8", min_text_chars=200, title_limit=120)
    assert draft.source == "Reuters"
    assert draft.title == "Parasite scores historic upset at SAG awards"


def test_recall_retry_only_for_empty_short_or_teaser_text() -> None:
    assert _weak("", 200) and _weak("x" * 150, 200)
    assert _weak("A long teaser. " * 30 + "Subscribe to continue reading.", 200)
    assert not _weak("A real article sentence. " * 40, 200)


def test_trafilatura_warnings_stay_quiet(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert extract_html("<html><body></body></html>") is None
        assert extract_html("") is None
    assert not [r for r in caplog.records if r.name.startswith(("trafilatura", "htmldate"))]


def test_a_page_rendered_by_javascript_is_read_from_its_json_ld() -> None:
    import json

    body = "\n".join(PARAS)
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                     "headline": "Neue Straßenbahn", "articleBody": body})
    html = (f"<html lang='de'><head><title>Neue Straßenbahn | stadtblatt.de</title>"
            f"<script type='application/ld+json'>{ld}</script></head>"
            "<body><div id='app'>Loading…</div><script>render()</script></body></html>")
    draft = article_from_page(html.encode(), url="https://stadtblatt.de/bahn", charset="utf-8",
                              min_text_chars=200, title_limit=120)
    assert all(paragraph in draft.text for paragraph in PARAS)
    assert draft.title == "Neue Straßenbahn" and draft.language == "de"


def test_a_page_larger_than_the_text_cap_is_read_like_its_beginning() -> None:
    """A multi-megabyte page is cut after MAX_ARTICLE_CHARS of readable text before
    extraction (script and style text do not count): the article's start, title and date are
    read, the end is not."""
    from bot.ingest.html import PAGE_TEXT_BUDGET

    paragraph = ("Der Stadtrat stimmte mit großer Mehrheit für das Projekt, das rund 120 "
                 "Millionen Euro kosten wird und zum größten Teil vom Land bezahlt wird. ")
    count = 3 * PAGE_TEXT_BUDGET // len(paragraph)
    paras = [f"<p>{i}: {paragraph}</p>" for i in range(count)]
    script = "<script>var x = '" + "y" * 500_000 + "';</script>"
    head = ("<meta property='article:published_time' content='2019-09-12T05:28:00Z'>"
            "<meta property='og:site_name' content='Stadtblatt'>")
    big = page(script + "<article><h1>Neue Straßenbahn</h1>" + "".join(paras) + "</article>",
               head=head)
    extracted = extract_html(big, url="https://stadtblatt.de/bahn", min_chars=200)
    assert extracted is not None
    assert extracted.text.startswith("0: Der Stadtrat")
    assert f"{count - 1}: Der Stadtrat" not in extracted.text
    assert PAGE_TEXT_BUDGET * 0.9 < len(extracted.text) <= PAGE_TEXT_BUDGET
    assert extracted.title == "Neue Straßenbahn"
    assert extracted.published_at is not None and extracted.published_at.year == 2019


def test_trim_text_counts_readable_text_only() -> None:
    from bot.ingest.html import parse_page, trim_text

    tree = parse_page("<html><body><script>" + "x" * 5000 + "</script><p>" + "a" * 60
                      + "</p><p>" + "b" * 60 + "</p><p>" + "c" * 60 + "</p></body></html>")
    body = tree.find(".//body")
    assert trim_text(body, 100)
    assert body.text_content().replace("x", "") == "a" * 60 + "b" * 40
    assert not trim_text(body, 100)


def test_a_section_heading_is_not_taken_for_the_title() -> None:
    from bot.ingest.html import _checked_title

    head = "Android Ransomware Spreads Via 'Sex Simulation Game' Links on Reddit, SMS | Threatpost"
    assert _checked_title("Suggested articles", head) == head
    assert _checked_title("Android ransomware spreads", head) == "Android ransomware spreads"
    # a <title> that is only the site's name says nothing about the headline
    assert _checked_title("Budget passes the Senate", "Home | Example News") == \
        "Budget passes the Senate"
    assert _checked_title("Ein Albtraum", "Ein Albtraum - DER SPIEGEL 52/2018") == "Ein Albtraum"
    assert _checked_title(None, head) is None


def test_template_expressions_are_no_text_but_code_samples_keep_them() -> None:
    from bot.ingest.html import drop_template_expressions, parse_page

    tree = parse_page("<html><body><div>{{ nrco.content.status === 'draft' ? 'Brouillon' : '' }}"
                      "</div><p>Le parc ferme. {{ user.name }}</p><pre>{{ variable }}</pre>"
                      "<p><code>{{ x }}</code> sert à afficher.</p></body></html>")
    drop_template_expressions(tree)
    text = tree.text_content()
    assert "nrco" not in text and "user.name" not in text
    assert "Le parc ferme." in text
    assert "{{ variable }}" in text and "{{ x }}" in text


def test_a_large_page_keeps_its_json_ld_metadata_from_the_end_of_its_body() -> None:
    """Metadata of a large page is read from a slim copy; JSON-LD at the end of the body
    (after 30,000 characters of text) still gives the date and author."""
    paragraph = ("Der Stadtrat stimmte mit großer Mehrheit für das Projekt, das rund 120 "
                 "Millionen Euro kosten wird und zum größten Teil vom Land bezahlt wird. ")
    paras = "".join(f"<p>{i}: {paragraph}</p>" for i in range(800))  # ~120,000 characters
    json_ld = ('<script type="application/ld+json">{"@context":"https://schema.org",'
               '"@type":"NewsArticle","headline":"Neue Straßenbahn",'
               '"datePublished":"2019-09-12T05:28:00Z",'
               '"author":{"@type":"Person","name":"Anna Muster"}}</script>')
    big = page("<article><h1>Neue Straßenbahn</h1>" + paras + "</article>" + json_ld)
    extracted = extract_html(big, url="https://stadtblatt.de/bahn", min_chars=200)
    assert extracted is not None
    assert extracted.published_at is not None and extracted.published_at.year == 2019
    assert extracted.author == "Anna Muster"
