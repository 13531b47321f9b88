"""Text from outside made safe to store and to show: no control characters, no bidi tricks.

Feed titles, pages, files, standard input and what users type can carry terminal escape
sequences (``ESC ]0;title BEL``, ``ESC [2J``), other C0/C1 control characters, and Unicode
bidirectional overrides that make ``exe.txt`` read as ``txt.exe``. Everything taken in goes
through :func:`strip_controls` once (the engine's ingest, the command grammar), so stored text
is clean; everything shown in chat goes through :func:`neutralize_bidi` (the kernel's ``Item``
and ``Reply``), so nothing stored earlier, or built from parts, can reorder what a reader sees.
"""

from __future__ import annotations

import re

# Whole escape sequences, so no "[31m" is left behind: CSI (ESC [ or the C1 CSI U+009B), OSC
# (ESC ] or U+009D ... BEL or ST), other string commands (DCS, SOS, PM, APC), two-byte escapes.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x9b[0-?]*[@-~]"  # a C1 CSI only with its final byte: a lone U+009B eats no text
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0 except tab and newline, DEL, C1.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# Every match of the three patterns above starts with one of these characters: text without
# any (an article's text, nearly always) is left as it is after one scan, not three.
_ANY_SPECIAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# Embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str, *, newlines: bool = True) -> str:
    """``text`` without escape sequences and C0/C1 control characters. Line breaks of any
    kind become ``\\n`` and are kept when ``newlines`` (an article's paragraphs), else become
    spaces (a title, a name); tabs are kept in the first case, spaces in the second."""
    if _ANY_SPECIAL.search(text) is not None:  # else none of the three below can match
        text = _LINE_BREAKS.sub("\n", text)
        text = _ESCAPES.sub("", text)
        text = _CONTROLS.sub("", text)
    if not newlines:
        text = text.replace("\n", " ").replace("\t", " ")
    return text


def neutralize_bidi(text: str) -> str:
    """``text`` without bidirectional embeddings, overrides and isolates (shown as written)."""
    return _BIDI.sub("", text)


def shown(text: str) -> str:
    """A one-line string as chat shows it: controls and bidi overrides removed."""
    return neutralize_bidi(strip_controls(text, newlines=True))
