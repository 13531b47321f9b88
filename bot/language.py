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
from itertools import islice
from typing import Any

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

    fast = _fast_identifier_class(LanguageIdentifier)
    return (fast or LanguageIdentifier).from_model_file(MODEL_FILE, norm_probs=True)


# py3langid counts its byte n-gram features with a DFA walked one byte at a time in Python
# (``visit_counts``): ~1.3 us a byte, 4 ms of every 3,000-character sample, the largest single
# cost of an ingest. The DFA is an Aho-Corasick automaton: its state after any input is the
# longest suffix of the input that is a prefix of a feature, so it depends only on the last
# ``depth`` bytes (the deepest state's distance from the start, 6 in the shipped model). The
# states of every position are then ``depth`` vectorised steps over all positions at once, and
# the counts are the same, in the same first-seen order (the order the scores are summed in).
# Only used when py3langid has the internals this relies on (0.4); a test compares it with
# ``visit_counts`` and ``classify`` on text in many languages.
def _fast_identifier_class(base: type[Any]) -> type[Any] | None:
    import numpy as np
    from py3langid import langid

    if not all(hasattr(base, name) for name in ("_raw_score", "_sparse_score")) or not hasattr(
            langid, "visit_counts"):
        return None

    class FastIdentifier(base):  # type: ignore[misc]
        __slots__ = ("_arrays",)
        _arrays: tuple[Any, Any, Any, int, Any, Any]

        def _tables(self) -> tuple[Any, Any, Any, int, Any, Any]:
            try:
                return self._arrays
            except AttributeError:
                pass
            nextmove = np.asarray(self.tk_nextmove)
            rowbase = np.asarray(self._rowbase, dtype=np.intp)
            output = np.asarray(self.tk_output, dtype=np.intp)
            # the scores' table is float16; numpy converts the rows a text uses to float32 on
            # every call (~1.5 ms): each row is converted once here instead, when first used
            # (np.zeros maps its pages lazily: only the rows of the languages seen cost memory)
            table = np.zeros(self.nb_ptc.shape, dtype=np.result_type(self.nb_ptc, np.float32))
            done = np.zeros(len(table), dtype=bool)
            self._arrays = (nextmove, rowbase, output, _depth(nextmove, rowbase), table, done)
            return self._arrays

        def _raw_score(self, text: bytes) -> Any:
            nextmove, rowbase, output, depth, table, done = self._tables()
            data = np.frombuffer(text, dtype=np.uint8).astype(np.intp)
            states = np.zeros(len(data), dtype=np.intp)
            for back in range(min(depth, len(data)) - 1, -1, -1):
                # position i takes byte i - back; the first ``back`` positions have none
                states[back:] = nextmove[rowbase[states[back:]] + data[:len(data) - back]]
            features = output[states]
            features = features[features >= 0]
            if not len(features):
                return super()._raw_score(text)  # py3langid's own fill for no features
            found, first, counts = np.unique(features, return_index=True, return_counts=True)
            order = np.argsort(first, kind="stable")
            found = found[order]
            if self.nb_ptc is not self._full_model[0]:  # set_languages() narrowed the table
                visits = dict(zip(found.tolist(), counts[order].tolist(), strict=True))
                return self._sparse_score(visits, self.nb_ptc)
            fresh = found[~done[found]]
            table[fresh] = self.nb_ptc[fresh]
            done[fresh] = True
            # py3langid's _sparse_score: np.log1p(counts) @ table[idx] + nb_pc
            return np.log1p(counts[order].astype(np.float32)) @ table[found] + self.nb_pc

    return FastIdentifier


def _depth(nextmove: Any, rowbase: Any) -> int:
    """The longest input a state of the automaton remembers (breadth-first from state 0)."""
    import numpy as np

    seen = np.zeros(len(rowbase), dtype=bool)
    seen[0] = True
    frontier = np.array([0], dtype=np.intp)
    depth = 0
    everything = np.arange(256, dtype=np.intp)
    while True:
        reached = np.zeros(len(rowbase), dtype=bool)
        reached[nextmove[(rowbase[frontier][:, None] + everything).ravel()]] = True
        reached &= ~seen
        if not reached.any():
            return max(depth, 1)
        depth += 1
        seen |= reached
        frontier = np.flatnonzero(reached)


def warm_detector() -> None:
    """Load the detector and its tables now (a bot's start-up), not at the first detection."""
    with _lock:
        identifier = _identifier()
        tables = getattr(identifier, "_tables", None)
        if tables is not None:
            tables()


def detect_language(text: str) -> tuple[str, float] | None:
    """The ISO 639-1 code of ``text``'s language and the detector's confidence (0..1), or
    None for too little text to tell."""
    sample = text[:_DETECT_CHARS]
    # fewer than _MIN_DETECT_LETTERS letters? (counted only until there are enough)
    if next(islice(filter(str.isalpha, sample), _MIN_DETECT_LETTERS - 1, None), None) is None:
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
