"""The alert query language: semantics (a table of queries against texts, traps included),
malformed queries with the position of the problem, and the subscription index."""

from __future__ import annotations

import random

import pytest

from bot.alerts.matching import SubscriptionIndex
from bot.alerts.query import And, Node, Not, Or, Term, compile_query, strip_markup
from bot.errors import QueryError, UserError, inert

# (query, title, text, matched terms or None)
CASES: list[tuple[str, str, str, tuple[str, ...] | None]] = [
    # whole words, any case, the summarizer's stemming
    ("rocket", "", "Ukraine gets ROCKETS.", ("rocket",)),
    ("rockets", "", "A rocket was launched.", ("rockets",)),
    ("rocket", "", "The rocketry club met.", None),
    ("launch", "", "It launched on Monday and launches again.", ("launch",)),
    ("Ukraine", "", "Ukraine's army held the line.", ("Ukraine",)),
    ("Ukraine", "", "the Russia-Ukraine talks", ("Ukraine",)),
    ("cafe", "", "Café culture", ("cafe",)),
    # substrings never match
    ("center", "", "The epicenter of the quake", None),
    ("art", "", "Smart start", None),
    ("rocket", "", "Skyrockets in flight", None),
    # markup is not text
    ("center", "", '<div class="text-center">Hello world</div>', None),
    ("center", "", '<p class="center">Rocket news</p><p>The Center held.</p>', ("center",)),
    ("rocket", "", "Rock<b>et</b> launch", ("rocket",)),
    ("rocket", "", '<img alt="rocket" src="rocket.png"> Nothing else', None),
    ("rocket", "", "<script>var rocket = 1;</script><style>.rocket{}</style>Calm day", None),
    ("rocket", "", "&lt;span class=&quot;rocket&quot;&gt;plain&lt;/span&gt;", None),
    ("AT&T", "", "AT&amp;T reported earnings", ("AT&T",)),
    ("amp", "", "AT&amp;T reported earnings", None),
    # invisible soft hyphens (&shy;) and word joiners do not split a word
    ("rocket", "", "The Ro&shy;cket flew", ("rocket",)),
    ('"rocket launch"', "", "a rock\u00adet launch", ('"rocket launch"',)),
    ("Bundesregierung", "Bundes\u00adregierung", "", ("Bundesregierung",)),
    # exact phrases: words in order, exact forms, across harmless punctuation, one sentence
    ('"rocket systems"', "", "advanced rocket systems to Ukraine", ('"rocket systems"',)),
    ('"rocket systems"', "", "advanced rocket-systems to Ukraine", ('"rocket systems"',)),
    ('"rocket systems"', "", "the <b>rocket</b>\nsystems", ('"rocket systems"',)),
    ('"rocket systems"', "", "a “rocket” systems test", ('"rocket systems"',)),
    ('"rocket systems"', "", "systems rocket", None),
    ('"rocket systems"', "", "rocket system", None),
    ('"rocket systems"', "", "They fired a rocket. Systems failed.", None),
    ('"rocket systems"', "", "<p>a rocket</p><p>systems</p>", None),
    ('"U.S. Army"', "", "the U.S. Army said", ('"U.S. Army"',)),
    ('"Dr. Smith"', "", "said Dr. Smith today", ('"Dr. Smith"',)),
    ('"rocket"', "", "two rockets", None),
    ("“rocket systems”", "", "rocket systems", ('"rocket systems"',)),
    ("long-range", "", "long range missiles", ("long-range",)),
    ("long-range", "", "long-ranged missiles", ("long-range",)),
    ("long-range", "", "range long", None),
    # AND, OR, precedence and grouping
    ("rocket launch", "", "rocket launch", ("rocket", "launch")),
    ("rocket launch", "", "rocket only", None),
    ("rocket AND launch", "", "launch of a rocket", ("rocket", "launch")),
    ("rocket OR missile", "", "a missile", ("missile",)),
    ("rocket OR missile", "", "a rocket and a missile", ("rocket", "missile")),
    ("rocket launch OR landing", "", "a landing", ("landing",)),
    ("rocket (launch OR landing)", "", "a landing", None),
    ("rocket (launch OR landing)", "", "a rocket landing", ("rocket", "landing")),
    ("rocket launch OR landing", "", "a rocket", None),
    # exclusions
    ("rocket -opinion", "", "rocket news", ("rocket",)),
    ("rocket -opinion", "Opinion: rockets", "rocket news", None),
    ('rocket -"press release"', "", "rocket press release", None),
    ('rocket -"press release"', "", "rocket press and a release", ("rocket",)),
    ("rocket -(test OR drill)", "", "a rocket drill", None),
    ("rocket NOT test", "", "a rocket test", None),
    # title only
    ("title:Ukraine", "Ukraine war", "nothing", ("title:Ukraine",)),
    ("title:Ukraine", "The war", "Ukraine", None),
    ('title:"rocket systems"', "New rocket systems", "x", ('title:"rocket systems"',)),
    ("title:(rocket OR missile) -drill", "Missile test", "x", ("title:missile",)),
    ("title:(rocket OR missile) -drill", "Missile test", "a drill", None),
    ("-title:opinion rocket", "Opinion", "rocket", None),
    ("-title:opinion rocket", "News", "rocket opinion", ("rocket",)),
    # a phrase never runs from the title into the text
    ('"war rocket"', "The war", "Rocket fire", None),
]


@pytest.mark.parametrize(("query", "title", "text", "expected"), CASES)
def test_query_semantics(query: str, title: str, text: str,
                         expected: tuple[str, ...] | None) -> None:
    assert compile_query(query).match(title=title, text=text) == expected


# (query, position of the problem, words in the message)
ERRORS: list[tuple[str, int, str]] = [
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ('rocket "systems', 7, "never closed"),
    ("rocket -", 7, "followed by"),
    ("- rocket", 0, "followed by"),
    ("rocket --launch", 7, "one - is enough"),
    ("OR rocket", 0, "before it"),
    ("rocket OR", 7, "after it"),
    ("rocket OR OR launch", 7, "after it"),
    ("(OR rocket)", 1, "before it"),
    ("rocket AND", 7, "both sides"),
    ("-rocket", 0, "only excludes"),
    ("-rocket -launch", 0, "only excludes"),
    ("rocket OR -launch", 10, "each side of OR"),
    ("(rocket launch", 0, "never closed"),
    ("rocket launch)", 13, "closes nothing"),
    ("rocket () launch", 8, "empty parentheses"),
    ("source:reuters", 0, "unknown field"),
    ("rocket title:", 7, "title:"),
    ("title:-rocket", 6, "before title:"),
    ("@@ rocket", 0, "no letters"),
    ('rocket ""', 7, "no letters"),
    ("rocket NOT", 7, "NOT"),
    ("r" * 201, 200, "at most 200"),
    ("the", 0, "almost every article"),
    ("the OR and", 0, "almost every article"),
    # a word whose stem is a common word: say so, and how to look for the word itself
    ("wells", 0, 'wells is read as every form of well, which almost every article has: put '
                 'it in quotes ("wells")'),
    ("seconds OR thanks", 0, "seconds is read as every form of second"),
]


@pytest.mark.parametrize(("query", "position", "words"), ERRORS)
def test_malformed_queries_point_at_the_problem(query: str, position: int, words: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    err = info.value
    assert isinstance(err, UserError)
    assert err.position == position
    assert words in str(err)
    if query.strip() and len(query) <= 200:
        # the message shows the query with a caret under the problem
        lines = str(err).splitlines()
        assert lines[-2].strip() == inert(query).strip()
        assert lines[-1].index("^") - 2 == position


@pytest.mark.parametrize("query", ['<!channel> @everyone "rocket', "<@U123> rocket OR",
                                   "@here " + "<!channel> " * 20, "rocket <>"])
def test_a_malformed_query_is_echoed_without_anything_that_pings(query: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    message = str(info.value)
    assert "<" not in message and ">" not in message, message
    assert "@everyone" not in message and "@here" not in message, message
    if len(query) <= 200:
        echoed, caret = message.splitlines()[-2:]
        visible = echoed.replace("\u200b", "")  # zero width: the caret still points right
        assert len(visible) == len(query) + 2
        assert caret.index("^") - 2 == info.value.position


def test_a_quoted_word_is_that_word_even_when_its_stem_is_common() -> None:
    assert compile_query('"wells"').match(title="", text="Wells Fargo said") == ('"wells"',)
    assert compile_query('"wells"').match(title="", text="All is well") is None


def test_common_words_are_fine_beside_a_specific_one_or_in_a_phrase() -> None:
    assert compile_query("the rocket").match(title="", text="The rocket") == ("the", "rocket")
    assert compile_query('"The Who"').match(title="", text="the who played") == ('"The Who"',)


def test_two_hundred_characters_is_fine() -> None:
    assert compile_query("r" * 200).match(title="", text="r" * 200) is not None


def test_canonical_reading_shows_precedence_and_reparses() -> None:
    for query, canonical in [
        ("rocket launch OR landing", "(rocket launch) OR landing"),
        ("rocket (launch OR landing)", "rocket (launch OR landing)"),
        ("title:(rocket OR missile) -drill", "(title:rocket OR title:missile) -drill"),
        ('  "Rocket  systems"   -opinion ', '"Rocket systems" -opinion'),
        ("<!channel> @everyone rocket", "channel everyone rocket"),
        # what is shown reads back as the same query: no merged words, operators or fields
        ("rocket,launch", "rocket-launch"),
        ("rocket OR, moon", "rocket or moon"),
        ("#TITLE:moon x.NOT", "TITLE-moon x.NOT"),
        ('"rocket\u00ad\'s, systems"', '"rocket\'s systems"'),
    ]:
        compiled = compile_query(query)
        assert compiled.canonical == canonical
        again = compile_query(compiled.canonical)
        assert again.canonical == canonical
        assert _shape(again.tree) == _shape(compiled.tree), query
    assert compile_query("Rocket Launch").key == compile_query("rocket   launch").key


def _shape(node: Node) -> object:
    """A query tree without its display strings: what it matches."""
    if isinstance(node, Term):
        return (node.keys, node.title_only)
    if isinstance(node, Not):
        return ("not", _shape(node.child))
    assert isinstance(node, And | Or)
    return (type(node).__name__, tuple(_shape(c) for c in node.children))


def test_strip_markup_keeps_text_and_plain_text_as_is() -> None:
    assert strip_markup("a < b and c > d") == "a < b and c > d"
    assert strip_markup("<p>One</p><p>Two &amp; three</p>").split() == ["One", "Two", "&",
                                                                        "three"]
    assert "alert" not in strip_markup("<!-- alert --><script>alert(1)</script>ok")


def test_index_matches_like_each_query_alone() -> None:
    """The index must give exactly what evaluating every query on its own gives."""
    rng = random.Random(7)
    vocab = ("rocket launch missile Ukraine Russia army center opinion test drill range long "
             "systems press release title").split()
    queries = []
    for _ in range(400):
        a, b, c = rng.sample(vocab, 3)
        queries.append(rng.choice([
            a, f"{a} {b}", f'"{a} {b}"', f"{a} -{b}", f"title:{a}", f"{a} OR {b}",
            f"({a} OR {b}) {c}", f"{a} {b} OR {c}", f"title:({a} OR {b}) -{c}",
        ]))
    index = SubscriptionIndex()
    compiled = {i: compile_query(q) for i, q in enumerate(queries)}
    index.add_many(compiled.items())
    for _ in range(40):
        title = " ".join(rng.sample(vocab, 2))
        text = " ".join(rng.choice(vocab) + rng.choice([" ", ". ", "-", " "]) for _ in range(12))
        expected = [(i, terms) for i, q in compiled.items()
                    if (terms := q.match(title=title, text=text)) is not None]
        assert index.match(title=title, text=text) == expected
    assert any(index.match(title="rocket launch", text="missile"))


def test_index_only_evaluates_queries_filed_under_the_articles_words() -> None:
    index = SubscriptionIndex()
    for i in range(2000):
        index.add(i, compile_query(f"the topic{i}"))  # filed under topic<i>, not the stop word
    index.add(5000, compile_query("rocket"))
    doc = index.analyzer.analyze(title="", text="the topic7 and a rocket")
    assert set(index.candidates(doc)) == {7, 5000}
    assert index.match(title="", text="the topic7 and a rocket") == [
        (7, ("the", "topic7")), (5000, ("rocket",))]


def test_index_add_replace_and_discard() -> None:
    index = SubscriptionIndex()
    index.add(1, compile_query("rocket"))
    index.add(2, compile_query("missile OR rocket"))
    assert [i for i, _ in index.match(title="", text="rocket")] == [1, 2]
    index.add(1, compile_query("launch"))  # replaced: no longer filed under rocket
    assert [i for i, _ in index.match(title="", text="rocket")] == [2]
    index.discard(2)
    index.discard(99)
    assert index.match(title="", text="rocket missile") == []
    assert len(index) == 1 and 1 in index


def test_phrases_are_filed_under_a_pair_of_neighbouring_words() -> None:
    index = SubscriptionIndex()
    index.add(1, compile_query('"rocket systems"'))
    index.add(2, compile_query("long-range"))
    apart = index.analyzer.analyze(title="", text="rocket and systems, range is long")
    assert index.candidates(apart) == {}
    together = index.analyzer.analyze(title="Rocket systems", text="long-range fire")
    assert set(index.candidates(together)) == {1, 2}
    index.discard(1)
    index.discard(2)
    assert index.candidates(together) == {}


def test_other_languages_use_their_stemmer() -> None:
    query = compile_query("Rakete -Übung", language="german")
    assert query.match(title="", text="Zwei Raketen gestartet") == ("Rakete",)
    assert query.match(title="", text="Raketen bei der Übung") is None
    assert query.match(title="", text="Raketentest") is None


def test_phrase_candidates_are_the_pairs_that_start_with_a_phrase_word() -> None:
    """The index looks up only the article's pairs whose first word opens a phrase anchor:
    the same pairs as filtering every pair of the article, and none once they are gone."""
    index = SubscriptionIndex()
    queries = ['"prime minister"', '"rocket systems"', "long-range", '"the minister"',
               '"U.S. Army"', '"prime time"']
    for i, query in enumerate(queries):
        index.add(i, compile_query(query))
    doc = index.analyzer.analyze(
        title="Prime minister visits", text="The prime minister said the U.S. Army's "
        "long-range rocket systems, the minister's prime time show. Prime ministers met.")
    heads = index._pair_heads
    assert set(doc.pairs_from(heads)) == {p for p in doc.pairs() if p.split(" ")[0] in heads}
    assert {"=prime =minister", "=s =army", "long rang"} <= set(doc.pairs_from(heads))
    assert [i for i, _ in index.match(title="Prime minister visits", text="")] == [0]
    for i in range(len(queries)):
        index.discard(i)
    assert index._pair_heads == {} and index.candidates(doc) == {}
