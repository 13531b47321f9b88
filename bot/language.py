"""Which language an article is in, and what briefbot can do in it.

Sumy's stemmers and stop words are named by language ("german"); feeds and pages name
theirs with a tag (RSS ``<language>de-de</language>``, ``<html lang="fr">``, ``og:locale``).
:func:`resolve_language` takes the article's declared tag when it names a language Sumy can
stem, else detects the language from the text with ``py3langid`` (a model shipped inside the
package: nothing is downloaded), else falls back to the configured default -- and logs once
per language when it must fall back, so an unsupported language is never silent.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache

log = logging.getLogger(__name__)

AUTO = "auto"

# ISO 639-1 -> the name Sumy's Stemmer takes; every one of these has a stemmer (NLTK's
# Snowball or Sumy's own); stop words exist for most (see bot.text.language_kit).
SUMY_LANGUAGES: dict[str, str] = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
    "pt": "portuguese", "nl": "dutch", "da": "danish", "fi": "finnish", "hu": "hungarian",
    "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "ro": "romanian",
    "ru": "russian", "sv": "swedish", "cs": "czech", "sk": "slovak", "pl": "polish",
    "uk": "ukrainian", "el": "greek", "ar": "arabic",
}
_NAMES = frozenset(SUMY_LANGUAGES.values())
# Names people write in a config or a page for a language, beyond the English ones.
_ALIASES = {"deutsch": "german", "français": "french", "francais": "french",
            "español": "spanish", "espanol": "spanish", "castellano": "spanish",
            "italiano": "italian", "português": "portuguese", "nederlands": "dutch",
            "svenska": "swedish", "polski": "polish", "čeština": "czech"}
_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")
_DETECT_CHARS = 3000
# Below this many letters a detector guesses: the default language is used instead.
_MIN_DETECT_LETTERS = 40


def normalize_language(tag: str | None) -> str | None:
    """A Sumy language name for a tag or a name ("de-AT", "fr_FR", "German", "español");
    None when it names no language Sumy can stem."""
    if not tag:
        return None
    value = tag.strip().lower()
    if value in _NAMES:
        return value
    if value in _ALIASES:
        return _ALIASES[value]
    match = _TAG.match(value)
    return SUMY_LANGUAGES.get(match.group(1)) if match else None


def language_code(tag: str | None) -> str | None:
    """The primary subtag of a language tag ("pt-BR" -> "pt"), lower-case."""
    match = _TAG.match(tag or "")
    return match.group(1).lower() if match else None


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier() -> object:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> tuple[str, float] | None:
    """The ISO 639-1 code of ``text``'s language and the detector's confidence (0..1), or
    None for too little text to tell."""
    sample = text[:_DETECT_CHARS]
    if sum(ch.isalpha() for ch in sample) < _MIN_DETECT_LETTERS:
        return None
    with _lock:  # the identifier keeps state between calls; workers share it
        code, confidence = _identifier().classify(sample)  # type: ignore[attr-defined]
    return str(code), float(confidence)


_warned: set[str] = set()


def _fallback(what: str, default: str) -> str:
    if what not in _warned:
        _warned.add(what)
        log.info("articles in %s: no stemmer or stop words for it; summarised with %s rules",
                 what, default)
    return default


def resolve_language(declared: str | None, text: str, *, default: str = "english") -> str:
    """The Sumy language to summarise ``text`` with: the declared one when supported, else
    the detected one when confident and supported, else ``default``."""
    named = normalize_language(declared)
    if named is not None:
        return named
    found = detect_language(text)
    if found is None:
        return default
    code, confidence = found
    if confidence < 0.5:
        return default
    if code in SUMY_LANGUAGES:
        return SUMY_LANGUAGES[code]
    return _fallback(code, default)
