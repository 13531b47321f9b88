"""NLTK's English Snowball stemmer, word for word the same stems, ~2x faster.

Stemming a word not seen before is the largest single cost of an ingest after the summary's
sentence splitting (~20 us a word in NLTK; a news article brings dozens of new words until the
stem cache knows the vocabulary). Most of that time is NLTK trying every suffix of a step in
turn (``for suffix in ...: if word.endswith(suffix)``, ~70 ``endswith`` calls a word) and
walking the word letter by letter for its regions. PyStemmer (C) is not an option: it is a
newer Snowball, and 134 of 39,525 news words stem differently (summaries would change).

:func:`english_stem` is NLTK 3.x's ``EnglishStemmer.stem`` (Apache License 2.0, copyright the
NLTK Project; https://www.nltk.org) with changes that cannot change a result: each step's
suffix loop runs only when the word ends with one of that step's suffixes (one ``endswith``
with the tuple; without one the loop does nothing), the y-marking walk only when the word has
a "y", the regions R1/R2 found by a regular expression ("a vowel, then a non-vowel": the first
such place, as NLTK's walk finds it), and the constants as locals. Everything else, including
NLTK's own quirks, is kept as it is. :func:`english_stemmer` hands it out only when the
installed NLTK's stemmer is the one this was checked against (its source and constants);
otherwise NLTK's own is used. tests/test_snowball.py compares both on every word of the test
texts and ~80,000 made-up words.
"""

# NLTK's code as it is (kept line for line so it can be checked against it), not restyled:
# ruff: noqa: SIM102, SIM108, SIM114

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable

_VOWELS = "aeiouy"
_DOUBLE_CONSONANTS = ("bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt")
_LI_ENDING = "cdeghkmnrt"
_STEP0 = ("'s'", "'s", "'")
_STEP1A = ("sses", "ied", "ies", "us", "ss", "s")
_STEP1B = ("eedly", "ingly", "edly", "eed", "ing", "ed")
_STEP2 = ("ization", "ational", "fulness", "ousness", "iveness", "tional", "biliti", "lessli",
          "entli", "ation", "alism", "aliti", "ousli", "iviti", "fulli", "enci", "anci", "abli",
          "izer", "ator", "alli", "bli", "ogi", "li")
_STEP3 = ("ational", "tional", "alize", "icate", "iciti", "ative", "ical", "ness", "ful")
_STEP4 = ("ement", "ance", "ence", "able", "ible", "ment", "ant", "ent", "ism", "ate", "iti",
          "ous", "ive", "ize", "ion", "al", "er", "ic")
_STEP5 = ("e", "l")
_SPECIAL_WORDS = {
    "skis": "ski", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie",
    "idly": "idl", "gently": "gentl", "ugly": "ugli", "early": "earli", "only": "onli",
    "singly": "singl", "sky": "sky", "news": "news", "howe": "howe", "atlas": "atlas",
    "cosmos": "cosmos", "bias": "bias", "andes": "andes", "inning": "inning",
    "innings": "inning", "outing": "outing", "outings": "outing", "canning": "canning",
    "cannings": "canning", "herring": "herring", "herrings": "herring", "earring": "earring",
    "earrings": "earring", "proceed": "proceed", "proceeds": "proceed", "proceeded": "proceed",
    "proceeding": "proceed", "exceed": "exceed", "exceeds": "exceed", "exceeded": "exceed",
    "exceeding": "exceed", "succeed": "succeed", "succeeds": "succeed", "succeeded": "succeed",
    "succeeding": "succeed",
}
# The sources this port was checked against (NLTK 3.9-3.10): EnglishStemmer.stem,
# _StandardStemmer._r1r2_standard, nltk.stem.util.suffix_replace (sha256 of inspect.getsource).
_CHECKED_SOURCES = {
    "stem": "5312dc42efabb664d0d6546e8b0b5bce67eee6dbf0097811623348d1ec67382f",
    "r1r2": "2652f53e7ddaa58eff1c5c2549ed09e09f1f05e8bcf6496102f23d4c83bd14bd",
    "suffix_replace": "482030a24ef092b3b64607ad6e523ddb2fd6a5923e0e688dc58a79ecc5937970",
}


# R1 starts after the first non-vowel that follows a vowel ("Y" is no vowel)
_REGION = re.compile("[aeiouy][^aeiouy]")


def _regions(word: str) -> tuple[str, str]:
    """NLTK's ``_r1r2_standard(word, "aeiouy")``."""
    found = _REGION.search(word)
    if found is None:
        return "", ""
    r1 = word[found.end():]
    found = _REGION.search(r1)
    return r1, "" if found is None else r1[found.end():]


def english_stem(word: str) -> str:
    """``nltk.stem.snowball.EnglishStemmer().stem(word)``."""
    vowels = _VOWELS
    word = word.lower()

    if len(word) <= 2:  # NLTK: "word in self.stopwords or": empty without ignore_stopwords
        return word

    elif word in _SPECIAL_WORDS:
        return _SPECIAL_WORDS[word]

    # Map the different apostrophe characters to a single consistent one
    word = word.replace("\u2019", "\x27").replace("\u2018", "\x27").replace("\u201b", "\x27")

    if word.startswith("\x27"):
        word = word[1:]

    if word.startswith("y"):
        word = "".join(("Y", word[1:]))

    if "y" in word:  # else the walk changes nothing
        chars = list(word)
        for i in range(1, len(chars)):
            if chars[i - 1] in vowels and chars[i] == "y":
                chars[i] = "Y"
        word = "".join(chars)

    step1a_vowel_found = False
    step1b_vowel_found = False

    r1 = ""
    r2 = ""

    if word.startswith(("gener", "commun", "arsen")):
        if word.startswith(("gener", "arsen")):
            r1 = word[5:]
        else:
            r1 = word[6:]

        for i in range(1, len(r1)):
            if r1[i] not in vowels and r1[i - 1] in vowels:
                r2 = r1[i + 1:]
                break
    else:
        r1, r2 = _regions(word)

    # STEP 0
    if word.endswith(_STEP0):
        for suffix in _STEP0:
            if word.endswith(suffix):
                word = word[: -len(suffix)]
                r1 = r1[: -len(suffix)]
                r2 = r2[: -len(suffix)]
                break

    # STEP 1a
    if word.endswith(_STEP1A):
        for suffix in _STEP1A:
            if word.endswith(suffix):
                if suffix == "sses":
                    word = word[:-2]
                    r1 = r1[:-2]
                    r2 = r2[:-2]

                elif suffix in ("ied", "ies"):
                    if len(word[: -len(suffix)]) > 1:
                        word = word[:-2]
                        r1 = r1[:-2]
                        r2 = r2[:-2]
                    else:
                        word = word[:-1]
                        r1 = r1[:-1]
                        r2 = r2[:-1]

                elif suffix == "s":
                    for letter in word[:-2]:
                        if letter in vowels:
                            step1a_vowel_found = True
                            break

                    if step1a_vowel_found:
                        word = word[:-1]
                        r1 = r1[:-1]
                        r2 = r2[:-1]
                break

    # STEP 1b
    if word.endswith(_STEP1B):
        for suffix in _STEP1B:
            if word.endswith(suffix):
                if suffix in ("eed", "eedly"):
                    if r1.endswith(suffix):
                        word = _suffix_replace(word, suffix, "ee")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ee")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ee")
                        else:
                            r2 = ""
                else:
                    for letter in word[: -len(suffix)]:
                        if letter in vowels:
                            step1b_vowel_found = True
                            break

                    if step1b_vowel_found:
                        word = word[: -len(suffix)]
                        r1 = r1[: -len(suffix)]
                        r2 = r2[: -len(suffix)]

                        if word.endswith(("at", "bl", "iz")):
                            word = "".join((word, "e"))
                            r1 = "".join((r1, "e"))

                            if len(word) > 5 or len(r1) >= 3:
                                r2 = "".join((r2, "e"))

                        elif word.endswith(_DOUBLE_CONSONANTS):
                            word = word[:-1]
                            r1 = r1[:-1]
                            r2 = r2[:-1]

                        elif (
                            r1 == ""
                            and len(word) >= 3
                            and word[-1] not in vowels
                            and word[-1] not in "wxY"
                            and word[-2] in vowels
                            and word[-3] not in vowels
                        ) or (
                            r1 == ""
                            and len(word) == 2
                            and word[0] in vowels
                            and word[1] not in vowels
                        ):
                            word = "".join((word, "e"))

                            if len(r1) > 0:
                                r1 = "".join((r1, "e"))

                            if len(r2) > 0:
                                r2 = "".join((r2, "e"))
                break

    # STEP 1c
    if len(word) > 2 and word[-1] in "yY" and word[-2] not in vowels:
        word = "".join((word[:-1], "i"))
        if len(r1) >= 1:
            r1 = "".join((r1[:-1], "i"))
        else:
            r1 = ""

        if len(r2) >= 1:
            r2 = "".join((r2[:-1], "i"))
        else:
            r2 = ""

    # STEP 2
    if word.endswith(_STEP2):
        for suffix in _STEP2:
            if word.endswith(suffix):
                if r1.endswith(suffix):
                    if suffix == "tional":
                        word = word[:-2]
                        r1 = r1[:-2]
                        r2 = r2[:-2]

                    elif suffix in ("enci", "anci", "abli"):
                        word = "".join((word[:-1], "e"))

                        if len(r1) >= 1:
                            r1 = "".join((r1[:-1], "e"))
                        else:
                            r1 = ""

                        if len(r2) >= 1:
                            r2 = "".join((r2[:-1], "e"))
                        else:
                            r2 = ""

                    elif suffix == "entli":
                        word = word[:-2]
                        r1 = r1[:-2]
                        r2 = r2[:-2]

                    elif suffix in ("izer", "ization"):
                        word = _suffix_replace(word, suffix, "ize")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ize")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ize")
                        else:
                            r2 = ""

                    elif suffix in ("ational", "ation", "ator"):
                        word = _suffix_replace(word, suffix, "ate")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ate")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ate")
                        else:
                            r2 = "e"

                    elif suffix in ("alism", "aliti", "alli"):
                        word = _suffix_replace(word, suffix, "al")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "al")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "al")
                        else:
                            r2 = ""

                    elif suffix == "fulness":
                        word = word[:-4]
                        r1 = r1[:-4]
                        r2 = r2[:-4]

                    elif suffix in ("ousli", "ousness"):
                        word = _suffix_replace(word, suffix, "ous")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ous")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ous")
                        else:
                            r2 = ""

                    elif suffix in ("iveness", "iviti"):
                        word = _suffix_replace(word, suffix, "ive")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ive")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ive")
                        else:
                            r2 = "e"

                    elif suffix in ("biliti", "bli"):
                        word = _suffix_replace(word, suffix, "ble")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ble")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ble")
                        else:
                            r2 = ""

                    elif suffix == "ogi" and word[-4] == "l":
                        word = word[:-1]
                        r1 = r1[:-1]
                        r2 = r2[:-1]

                    elif suffix in ("fulli", "lessli"):
                        word = word[:-2]
                        r1 = r1[:-2]
                        r2 = r2[:-2]

                    elif suffix == "li" and word[-3] in _LI_ENDING:
                        word = word[:-2]
                        r1 = r1[:-2]
                        r2 = r2[:-2]
                break

    # STEP 3
    if word.endswith(_STEP3):
        for suffix in _STEP3:
            if word.endswith(suffix):
                if r1.endswith(suffix):
                    if suffix == "tional":
                        word = word[:-2]
                        r1 = r1[:-2]
                        r2 = r2[:-2]

                    elif suffix == "ational":
                        word = _suffix_replace(word, suffix, "ate")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ate")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ate")
                        else:
                            r2 = ""

                    elif suffix == "alize":
                        word = word[:-3]
                        r1 = r1[:-3]
                        r2 = r2[:-3]

                    elif suffix in ("icate", "iciti", "ical"):
                        word = _suffix_replace(word, suffix, "ic")

                        if len(r1) >= len(suffix):
                            r1 = _suffix_replace(r1, suffix, "ic")
                        else:
                            r1 = ""

                        if len(r2) >= len(suffix):
                            r2 = _suffix_replace(r2, suffix, "ic")
                        else:
                            r2 = ""

                    elif suffix in ("ful", "ness"):
                        word = word[: -len(suffix)]
                        r1 = r1[: -len(suffix)]
                        r2 = r2[: -len(suffix)]

                    elif suffix == "ative" and r2.endswith(suffix):
                        word = word[:-5]
                        r1 = r1[:-5]
                        r2 = r2[:-5]
                break

    # STEP 4
    if word.endswith(_STEP4):
        for suffix in _STEP4:
            if word.endswith(suffix):
                if r2.endswith(suffix):
                    if suffix == "ion":
                        if word[-4] in "st":
                            word = word[:-3]
                            r1 = r1[:-3]
                            r2 = r2[:-3]
                    else:
                        word = word[: -len(suffix)]
                        r1 = r1[: -len(suffix)]
                        r2 = r2[: -len(suffix)]
                break

    # STEP 5
    if r2.endswith("l") and word[-2] == "l":
        word = word[:-1]
    elif r2.endswith("e"):
        word = word[:-1]
    elif r1.endswith("e"):
        if len(word) >= 4 and (
            word[-2] in vowels
            or word[-2] in "wxY"
            or word[-3] not in vowels
            or word[-4] in vowels
        ):
            word = word[:-1]

    return word.replace("Y", "y")


def _suffix_replace(original: str, old: str, new: str) -> str:
    return original[: -len(old)] + new


def _source_hash(func: object) -> str:
    try:
        return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def nltk_is_checked() -> bool:
    """True when the installed NLTK's English stemmer is the one :func:`english_stem` copies
    (same code and constants), so both give the same stems."""
    try:
        from nltk.stem import util  # type: ignore[import-untyped]
        from nltk.stem.snowball import (  # type: ignore[import-untyped]
            EnglishStemmer,
            _StandardStemmer,
        )
    except ImportError:
        return False
    cls = EnglishStemmer
    constants = (
        getattr(cls, "_EnglishStemmer__vowels", None) == _VOWELS
        and getattr(cls, "_EnglishStemmer__double_consonants", None) == _DOUBLE_CONSONANTS
        and getattr(cls, "_EnglishStemmer__li_ending", None) == _LI_ENDING
        and getattr(cls, "_EnglishStemmer__step0_suffixes", None) == _STEP0
        and getattr(cls, "_EnglishStemmer__step1a_suffixes", None) == _STEP1A
        and getattr(cls, "_EnglishStemmer__step1b_suffixes", None) == _STEP1B
        and getattr(cls, "_EnglishStemmer__step2_suffixes", None) == _STEP2
        and getattr(cls, "_EnglishStemmer__step3_suffixes", None) == _STEP3
        and getattr(cls, "_EnglishStemmer__step4_suffixes", None) == _STEP4
        and getattr(cls, "_EnglishStemmer__step5_suffixes", None) == _STEP5
        and getattr(cls, "_EnglishStemmer__special_words", None) == _SPECIAL_WORDS
        and EnglishStemmer().stopwords == set()
    )
    return constants and (
        _source_hash(cls.stem) == _CHECKED_SOURCES["stem"]
        and _source_hash(_StandardStemmer._r1r2_standard) == _CHECKED_SOURCES["r1r2"]
        and _source_hash(util.suffix_replace) == _CHECKED_SOURCES["suffix_replace"]
    )


def english_stemmer() -> Callable[[str], str] | None:
    """:func:`english_stem` when it is the installed NLTK's stemmer, else None."""
    return english_stem if nltk_is_checked() else None
