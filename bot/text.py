"""Offline sentence and word tokenizer for Sumy.

Sumy's stock ``Tokenizer`` loads NLTK's ``punkt_tab`` data, which a fresh install does not have
(it raises ``LookupError``) and which briefbot never downloads. This module plugs ``nupunkt``
(a Punkt model shipped inside its wheel) into Sumy's parser interface instead: it is ~60x faster
than pysbd on news (0.35 ms against 21 ms an article, see BENCHMARKS.md) and as accurate on
the abbreviation cases we test ("U.S.", "Mr.", "No. 10", "D.C.", quotes, decimals).

nupunkt's default model was trained on legal and financial text and lists ~5,900
"abbreviations", half of them ordinary words ("depot", "week", "ago") that would stop a news
sentence from ending; :func:`_news_tokenizer` keeps only real abbreviations (see ``_keep``).
A repair pass then fixes what Punkt still gets wrong in news: a break after a month or title
abbreviation ("Jan.", "Sen.") or before a lower-case word is undone, and a quotation split in
the middle ("We know where to look. We know how to look," she said.) is kept whole, so a
summary never quotes half a quote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.errors import InputError
from bot.sanitize import strip_controls

if TYPE_CHECKING:
    from sumy.nlp.stemmers import Stemmer

# Sumy and nupunkt load where they are used (a tokenizer, a language kit), so that commands
# that only read the store (`briefbot --help`, `feeds list`, `brief`) start without them.

# Abbreviations after which news text almost never ends a sentence.
_NO_BREAK_AFTER = frozenset(
    """jan feb mar apr jun jul aug sep sept oct nov dec mr mrs ms dr prof gen sen rep gov lt
    col capt cmdr adm sgt st ave blvd no nos vs v fig approx dept est jr sr rev hon pres u.s
    u.k e.g i.e""".split()
)
_LAST_TOKEN = re.compile(r"(\S+)\.[\"'’”)]*$")
# letters, joined by single inner apostrophes or hyphens (never ending on one); written as runs
# of letters rather than one letter at a time: the same tokens, ~2x faster
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*", re.UNICODE)
# "voted no. The bill": lower-case "no" ends a sentence; "No. 10" is handled by _should_join
_LOWER_NO_BREAK = re.compile(r"(?<=\bno\.)\s+(?=[A-Z][a-z])")
_SPACE = re.compile(r"\s+")
# A sentence joined across an open quotation is not allowed to grow past this.
_MAX_QUOTE_JOIN = 800
# The most article text kept and summarised, from any source (file, standard input, page, feed
# item, `summarize --jsonl`): a long feature is ~50,000 characters; a 5 MB "article" would
# hold a summarizer worker and the store for nothing a reader wants.
MAX_ARTICLE_CHARS = 200_000

# Abbreviations kept from the model beyond the dotted ones, the one- and two-letter ones and
# vowel-less clusters ("mgmt", "tbsp"): titles, months, days, US states (AP style), company words.
_KEEP_ABBREVIATIONS = frozenset(
    """jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat
    sun mr mrs ms dr prof gen sen rep reps gov lt col capt cmdr adm sgt cpl pvt maj brig st ave
    blvd rd hwy mt ft no nos vs fig approx dept est inc corp ltd co jr sr rev hon pres messrs
    mme mlle assn govt intl natl univ misc vol vols ed eds pp cf ca op cit ibid etc al ala ariz
    ark calif colo conn del fla ga ill ind kan ky la md mass mich minn miss mo mont neb nev okla
    ore pa tenn tex va vt wash wis wyo""".split()
)


def _keep(abbreviation: str) -> bool:
    if "." in abbreviation or len(abbreviation) <= 2 or abbreviation in _KEEP_ABBREVIATIONS:
        return True
    return abbreviation.isalpha() and not set(abbreviation) & set("aeiouy")


@lru_cache(maxsize=2)
def _news_tokenizer(english: bool = True) -> Any:
    """nupunkt's (English) model with only real abbreviations. For other languages its
    English abbreviations are dropped but for single letters and dotted ones ("u.s"): "an",
    "am", "la", "se", "mar", "est" are words there ("Sie kam am 5. Mai an. Es regnete.");
    each language's own abbreviations are kept by :func:`_should_join`."""
    from nupunkt.models import load_default_model

    tokenizer = load_default_model()  # a fresh instance: the shared cached one stays untouched
    params = tokenizer._params
    if english:
        params.abbrev_types = {a for a in params.abbrev_types if _keep(a)}
    else:
        params.abbrev_types = {a for a in params.abbrev_types if len(a) == 1 or "." in a}
    return tokenizer


def _open_quote(sentence: str) -> bool:
    """True when ``sentence`` opens a quotation it does not close."""
    if sentence.count("“") > sentence.count("”"):
        return True
    return sentence.count('"') % 2 == 1


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace and strip control characters (keeps letters intact)."""
    if not text.isprintable():  # printable: no control character, no line break to strip
        text = strip_controls(text)  # whole escape sequences too
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():  # printable text holds no control (category C) character
        # each distinct character is looked up once, not every character of the text
        drop = {ord(ch): None for ch in set(text)
                if ch not in "\n\t" and unicodedata.category(ch)[0] == "C"}
        if drop:
            text = text.translate(drop)
    # str.split() splits on what re's \s matches (both are Py_UNICODE_ISSPACE): the same as
    # _SPACE.sub(" ", text).strip(), 4x faster
    return " ".join(text.split())


# Languages that write ordinals with a full stop ("am 14. September", "im 15. Jahrhundert",
# "den 3. maj"): a number with a stop is a sentence end there only before a function word.
_ORDINAL_DOT_LANGUAGES = frozenset({"german", "danish", "norwegian", "finnish", "czech",
                                    "slovak", "polish", "hungarian", "swedish", "ukrainian",
                                    "russian"})
_MONTHS = frozenset("""
    januar jänner februar feber märz april mai juni juli august september oktober november
    dezember jan feb mär apr jun jul aug sep sept okt nov dez
    janvier février mars avril juin juillet août septembre octobre novembre décembre
    enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre
    diciembre gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
    janeiro fevereiro março maio junho julho setembro outubro novembro dezembro
    januari februari maart mei augustus
    marts maj december augusti
    ledna února března dubna května června července srpna září října listopadu prosince
    stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października
    listopada grudnia""".split())
# Abbreviations after which a capitalised word is a name, not a new sentence, per language
# (English ones are in _NO_BREAK_AFTER).
# A language listed here is split by its own list (and _ANY_LANGUAGE_NO_BREAK), not by the
# English one: "mar." (Spanish: the sea), "est." (French: is) end sentences there.
_LANGUAGE_ABBREVIATIONS: dict[str, frozenset[str]] = {
    "german": frozenset("""bzw ca dr nr str prof hr fr jh jhd mio mrd vgl evtl usw sog abs art
        bd inkl ggf zzgl tel st dipl ing gebr verh geb gest ehem jan feb mär apr jun jul aug
        sep sept okt nov dez""".split()),
    "french": frozenset("""m mme mmes mm mlle mgr dr me st ste av bd env cf etc pr réf
        vol art janv févr avr juil oct nov déc""".split()),
    "spanish": frozenset("""sr sra srta sres sras dr dra d dña lic ing av avda núm pág aprox
        etc ud uds prof gral excmo excma sto sta art ene abr ago sept oct nov dic ee uu""".split()),
    "italian": frozenset("""sig sigg dott prof ing avv on geom rag""".split()),
    "portuguese": frozenset("""sr sra srs dr dra prof av eng""".split()),
    "dutch": frozenset("""dhr mevr mr dr ir prof drs ing""".split()),
}
# An ordinal is written with at most three digits ("am 14.", "im 15.", "zum 100."); a year
# with a full stop ("endete 1945.") ends a sentence.
_ANY_LANGUAGE_NO_BREAK = frozenset("dr prof vs v fig u.s u.k e.g i.e".split())
_ENDS_WITH_NUMBER = re.compile(r"(?:^|\s|\()(\d{1,3})\.[\"'’”)]*$")
_FIRST_WORD = re.compile(r"^[\"'“‘(]*([^\W\d_][\w'’-]*)")
# "am 3." + "10. 2019": a date written with stops and spaces
_DATE_REST = re.compile(r"^\d{1,2}\.(?:\s?\d{2,4})?(?=\s|$)")
_DAY_MONTH_END = re.compile(r"(?:^|\s)\d{1,2}\.\s?\d{1,2}\.$")
_YEAR_START = re.compile(r"^\d{2,4}(?=[\s,.;:]|$)")


def _ordinal_joins(previous: str, following: str, language: str) -> bool:
    """ "…am 14." + "September um 13 Uhr…": the number was an ordinal, not a sentence end."""
    if not _ENDS_WITH_NUMBER.search(previous):
        return False
    if _DATE_REST.match(following):
        return True
    if _DAY_MONTH_END.search(previous) and _YEAR_START.match(following):
        return True  # "am 3. 10." + "2019 mit …"
    match = _FIRST_WORD.match(following)
    if match is None:
        return False
    word = match.group(1).casefold()
    if word in _MONTHS:
        return True
    if language not in _ORDINAL_DOT_LANGUAGES:
        return False
    # a capitalised content word ("Jahrhundert", "FC", "Bundesliga") continues the phrase;
    # a function word ("Die", "Er", "Am") opens a new sentence
    return word not in _stop_words(language)


@lru_cache(maxsize=32)
def _stop_words(language: str) -> frozenset[str]:
    if language in SUMY_LANGUAGES:
        # Sumy's own list, read as sumy.utils.get_stop_words reads it but without importing
        # Sumy (and NLTK, numpy with it): a topic search must not pay that (issue 11)
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("sumy")  # finds the package; does not import it
        if spec is not None and spec.submodule_search_locations:
            path = Path(spec.submodule_search_locations[0], "data", "stopwords",
                        f"{language}.txt")
            return frozenset(w.rstrip().casefold()
                             for w in path.read_text("utf-8").splitlines() if w)
    from sumy.utils import get_stop_words

    try:
        return frozenset(w.casefold() for w in get_stop_words(language))
    except LookupError:
        return frozenset()


def stop_words(language: str) -> frozenset[str]:
    """Sumy's stop words for ``language`` (``"auto"``: English), casefolded; empty where Sumy
    has none. Loads no Sumy for the languages of :data:`SUMY_LANGUAGES`."""
    return _stop_words("english" if language == "auto" else language)


_NUMBER_ALONE = re.compile(r"\d{1,3}\.")
_APOSTROPHE = re.compile(r"['’]")


def _should_join(previous: str, following: str, language: str = "english") -> bool:
    if not following:
        return False
    first = following.lstrip("\"'“‘(")[:1]
    if first.islower():
        return True
    if _ordinal_joins(previous, following, language):
        return True
    if _NUMBER_ALONE.fullmatch(previous):
        return True  # "1." + "FC Köln …": a number alone is no sentence
    match = _LAST_TOKEN.search(previous)
    if match is None:
        return False
    original = _APOSTROPHE.split(match.group(1).lstrip("(\"'“‘"))[-1]  # "l'art." -> "art"
    token = original.lower()
    if original == "no":  # "voted no." ends a sentence; "No." numbers things
        return False
    if token in _LANGUAGE_ABBREVIATIONS.get(language, ()):
        return True
    if token in (_NO_BREAK_AFTER if language not in _LANGUAGE_ABBREVIATIONS
                 else _ANY_LANGUAGE_NO_BREAK):
        return True
    # "No. 10", "Fig. 3", "Nr. 5": a number right after a numbering abbreviation
    return token in {"no", "nos", "fig", "nr", "núm"} and first.isdigit()


def split_sentences(paragraph: str, *, language: str = "english",
                    normalized: bool = False) -> list[str]:
    """Split one paragraph into sentences, in order, whitespace-normalised, by the rules of
    ``language`` (a Sumy language name; other names get the English rules). ``normalized``:
    the paragraph is already :func:`normalize_space`'s output (it is not normalised again)."""
    if not normalized:
        paragraph = normalize_space(paragraph)
    if not paragraph:
        return []
    tokenizer = _news_tokenizer(language not in _LANGUAGE_ABBREVIATIONS)
    raw = [str(s).strip() for s in tokenizer.tokenize(paragraph) if str(s).strip()]
    raw = [part for sentence in raw for part in _LOWER_NO_BREAK.split(sentence)]
    out: list[str] = []
    for sentence in raw:
        if out and (
            _should_join(out[-1], sentence, language)
            or (_open_quote(out[-1]) and len(out[-1]) + len(sentence) < _MAX_QUOTE_JOIN)
        ):
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out


_ELLIPSIS = "…"


def shorten(sentence: str, limit: int) -> str:
    """Cut ``sentence`` at a word boundary so it fits ``limit`` characters, with an ellipsis."""
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + _ELLIPSIS


# Where a headline made from a sentence may stop: after a clause (comma, semicolon, colon,
# dash) -- never inside a phrase.
_CLAUSE_END = re.compile(r"[,;:–—]\s|\s[-–—]\s")
# Words a cut title must not end on: they open the phrase that was cut away.
_DANGLING_TAIL = re.compile(
    r"(?:\s+(?:and|or|but|nor|of|the|a|an|to|in|on|at|by|for|from|with|as|that|which|who|whose|"
    r"und|oder|aber|der|die|das|den|dem|des|ein|eine|von|zu|mit|für|im|am|et|ou|le|la|les|"
    r"un|une|de|du|des|à|au|y|o|el|los|las|del|con|por|para|en|e|il|lo|di|da))+\s*$",
    re.IGNORECASE)


def title_from_sentence(sentence: str, *, limit: int) -> str:
    """A headline-length title from a sentence: the whole sentence when it fits, else its
    first clauses, else its first words; a cut title ends in an ellipsis, never on a word
    that opens the phrase cut away ("…, and")."""
    sentence = normalize_space(sentence).rstrip(".")
    if len(sentence) <= limit:
        return sentence
    room = max(limit - 1, 1)
    cuts = [m.start() for m in _CLAUSE_END.finditer(sentence) if m.start() <= room]
    if cuts and cuts[-1] >= limit * 0.4:
        head = sentence[: cuts[-1]]
    else:
        head = sentence[:room]
        space = head.rfind(" ")
        if space > limit // 2:
            head = head[:space]
    head = _DANGLING_TAIL.sub("", head.rstrip(" ,;:-–—")).rstrip(" ,;:-–—")
    return (head or sentence[:room]) + _ELLIPSIS


def title_from_text(text: str, *, limit: int, language: str = "english") -> str:
    """A title made from the text's first sentence (see :func:`title_from_sentence`)."""
    for paragraph in split_paragraphs(text):
        # a title is a few hundred characters: never split more than the paragraph's start
        sentences = first_sentences(paragraph, 1, max_chars=8_192, language=language)
        if sentences:
            return title_from_sentence(sentences[0], limit=limit)
    return "Untitled"


def first_sentences(paragraph: str, count: int, *, max_chars: int | None = None,
                    language: str = "english", normalized: bool = False) -> list[str]:
    """``split_sentences(paragraph)[:count]``, splitting no more of ``paragraph`` than needed
    (a paragraph can be a whole 200,000-character file on one line). With ``max_chars``, only
    that much of the paragraph is read (its last sentence may then be cut short).
    ``normalized``: as for :func:`split_sentences` (a cut part is normalised all the same)."""
    size = 8_192
    while len(paragraph) > size:
        # a sentence is whole when another one follows it inside the part that was split
        split = split_sentences(paragraph[:size], language=language)
        if len(split) > count or (max_chars is not None and size >= max_chars):
            return split[:count]
        size *= 2
    return split_sentences(paragraph, language=language, normalized=normalized)[:count]


def split_paragraphs(text: str) -> list[str]:
    """One paragraph a non-empty line (the format of plain article files)."""
    return [p for p in (normalize_space(line) for line in text.splitlines()) if p]


def cap_text(text: str, limit: int = MAX_ARTICLE_CHARS) -> str:
    """``text`` cut to ``limit`` characters at the last paragraph (else sentence, else word)
    boundary in its second half; unchanged when it fits."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for mark in ("\n", ". ", " "):
        cut = head.rfind(mark)
        if cut > limit // 2:
            return head[:cut + (1 if mark == ". " else 0)].rstrip()
    return head


@lru_cache(maxsize=65_536)
def cached_stem(stemmer: Callable[[str], str], word: str) -> str:
    """``stemmer(word)``, remembered: Snowball stemming is ~10-40 us a word, and news repeats
    its words; the summarizer and the alert and digest analysers share this one cache (a
    stemmer is one language, so the key is (language, word)). Bounded: the least recently
    used words are forgotten."""
    return stemmer(word)


def words(text: str) -> tuple[str, ...]:
    """Word tokens: letters (and inner apostrophes/hyphens/digits), never punctuation."""
    return tuple(_WORD.findall(text))


class OfflineTokenizer:
    """The tokenizer interface Sumy's parsers and summarizers call (``to_sentences``,
    ``to_words``, ``language``), backed by nupunkt and a regular expression."""

    def __init__(self, language: str = "english") -> None:
        self._language = language

    @property
    def language(self) -> str:
        return self._language

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(split_sentences(paragraph, language=self._language))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return words(sentence)


@lru_cache(maxsize=32)
def tokenizer_for(language: str) -> OfflineTokenizer:
    return OfflineTokenizer(language)


@dataclass(frozen=True, slots=True)
class LanguageKit:
    tokenizer: OfflineTokenizer
    stemmer: Stemmer
    stop_words: frozenset[str]


@lru_cache(maxsize=32)
def language_kit(language: str) -> LanguageKit:
    """Tokenizer, stemmer and stop words for a language; InputError if Sumy has no stemmer
    for it. A language with a stemmer but no stop-word list in Sumy (Dutch, Russian, ...)
    gets an empty list: every word counts. ``"auto"`` (a per-article language, see
    :mod:`bot.language`) means English where one language serves every article (alert
    queries, digest topics)."""
    if language == "auto":  # the same kit, so one stem cache serves both names
        return language_kit("english")
    from sumy.nlp.stemmers import Stemmer

    try:
        stemmer = Stemmer(language)
    except LookupError as exc:
        raise InputError(
            f"language {language!r} is not supported by Sumy's stemmers "
            "(try auto, english, german, french, spanish, ...)"
        ) from exc
    if language == "english" and callable(getattr(stemmer, "_stemmer", None)):
        from bot.snowball import english_stemmer

        fast = english_stemmer()  # NLTK's stems, ~2x faster (None: not the NLTK it copies)
        if fast is not None:
            stemmer._stemmer = fast  # what Sumy's Stemmer.__call__ calls
    return LanguageKit(tokenizer_for(language), stemmer, _stop_words(language))


# The languages Sumy has both a stemmer and stop words for (sumy 0.13; a test compares this
# list with what :func:`language_kit` accepts): checked without loading Sumy. Other names
# ("en", "de") go through Sumy's own normalisation.
SUMY_LANGUAGES = frozenset(
    """arabic chinese czech english french german greek hebrew italian japanese korean polish
    portuguese slovak spanish swedish ukrainian""".split()
)


def check_language(language: str) -> None:
    """InputError unless Sumy can summarise ``language`` (or it is ``"auto"``: each
    article's own, see :mod:`bot.language`); loads Sumy only for an unusual name."""
    if language != "auto" and language not in SUMY_LANGUAGES:
        language_kit(language)
