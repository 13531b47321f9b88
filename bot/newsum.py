"""``news``: an extractive summarizer for news articles, assembled from Sumy's parts.

Stock Sumy algorithms treat an article as a bag of sentences, and on news they score below
simply taking the lead of the story (LEAD-3). Journalists write the most important facts
first, come back to them in later paragraphs, and fill the rest with quotes, background,
captions and boilerplate. :class:`NewsSummarizer` is a Sumy summarizer (a ``LexRankSummarizer``
subclass: Sumy's document model, the language's stemmer and stop words, LexRank's word
normalisation) that adds what news needs:

* **clean candidates**: boilerplate ("Read more", "Click here", bylines, photo credits) is
  dropped; datelines, "(CNN)" and "Scroll down for video" are cut from the front of a
  sentence; a caption glued to a sentence is split off; captions, quote fragments (half of a
  quotation split across two sentences) and very short sentences are not picked;
* **a score per sentence**: a lead prior, PacSum-style directed centrality (Zheng & Lapata
  2019; tf-idf cosine with the sentences that *follow*: a story elaborates its lead), overlap
  with the headline, minus penalties for length beyond ``max_words`` and for the share of the
  sentence that is a quotation (colour, not news);
* **redundancy control** (MMR): a candidate loses what it shares with the picked sentences,
  and a near-duplicate of one is never picked;
* **coherence**: a sentence opening with a pronoun or connective that points back ("He
  said...", "But the plan...", "However, ...") is only picked right after the sentence before
  it.

The parameters are few; they were chosen on one half of a CNN/DailyMail dev set and checked on
the other half and on BBC News (BENCHMARKS.md, "Summary quality"). Measured there and not
kept: a backward (PacSum) penalty for similarity to earlier sentences, LexRank's undirected
PageRank centrality instead of the directed one, a lead prior that flattens for long
summaries, dropping a sentence with a glued caption (or just the caption) instead of
splitting the two.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sumy.models.dom import ObjectDocumentModel, Sentence
from sumy.summarizers.lex_rank import LexRankSummarizer

from bot.text import LanguageKit, cached_stem, words

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewsParams:
    """The knobs of :class:`NewsSummarizer` (defaults chosen on cnndm half A)."""

    # weight of the lead prior 1 / (1 + position)
    lead_weight: float = 3.0
    # weight of the headline overlap (cosine with the title)
    title_weight: float = 0.3
    # MMR: score - redundancy * max similarity to what is already picked
    redundancy: float = 0.5
    # sentences with fewer words are not picked (unless nothing else is left)
    min_words: int = 6
    # sentences with more words are penalised (they crowd out the rest of the summary)
    max_words: int = 25
    # penalty for the share of a sentence inside quotation marks
    quote_weight: float = 1.0


DEFAULT_PARAMS = NewsParams()

# tf-idf cosine at or above which two sentences say the same thing: never both in a summary
_NEAR_DUPLICATE = 0.8
# The most candidate sentences scored and picked from: the lead prior gives candidate 200 a
# weight of 3/201 = 0.015 against 3 for the first, and a news summary draws on its lead (on
# CNN/DM, 3-sentence summaries never pick past candidate 11; BBC's long summaries, ~46% of
# the article, reach candidate 195 in the 2 of 2,089 articles longer than 200 sentences).
# Sentences after the window still count in the document frequencies and in the centrality
# of the window's sentences (through their sum), so the cost of a summary is linear in the
# article's words and the matrices are at most RANK_WINDOW x RANK_WINDOW, whatever its length.
RANK_WINDOW = 200

# -- sentence classes -------------------------------------------------------------------------

# Whole sentences that are page furniture, not news.
_BOILERPLATE = re.compile(
    r"""^\W*(?:
        read\s+more\b | click\s+here\b | see\s+also\b | related\b\s*: |
        (?:sign\s+up|subscribe)\b | advertisement\b | share\s+this\b | follow\s+(?:us|@) |
        (?:photo|image|picture|video)s?\s*(?:credit)?\s*: | credit\s*: | copyright\b | ©
        | all\s+rights\s+reserved | (?:updated|published|last\s+updated)\s*:?\s*\d
        | (?:by|from)\s+(?:[A-Z][\w'’.-]*\s*){1,4}(?:,\s*[\w .]+)?\.?\s*$
        | (?:[A-Z][\w'’-]+\s){1,3}(?:reports?|reporter|correspondent|editor)\s*\.?\s*$
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Phrases glued to the front of a sentence by page extraction: cut them, keep the rest.
_FURNITURE_PREFIX = re.compile(
    r"^\W*(?:scroll\s+down\s+for\s+(?:video|more|the\s+video)s?|watch\s+the\s+video|"
    r"(?:read|see)\s+more\s*:.*?(?=\s[A-Z][a-z]+\s)|advertisement)\s*[.:\-–—]*\s*",
    re.IGNORECASE,
)
# "WASHINGTON (Reuters) - ", "LONDON, England (CNN) -- ", "(CNN)", "By Jane Doe, CNN".
_DATELINE = re.compile(
    r"^(?:[A-Z][A-Z .,'’-]{1,40}?\s*)?(?:,\s*[A-Z][\w .]{1,30})?"
    r"\((?:CNN|Reuters|AP|AFP|UPI|Bloomberg)[\w ]*\)\s*(?:[-–—]{1,2}|:)?\s*"
    r"|^[A-Z][A-Z .'’-]{2,30},?\s*(?:[A-Z][a-z.]+\s*)?\s*[-–—]{1,2}\s+",
)
# Any agency in any language: a place of up to four capitalised words ("London", "Hong Kong",
# "Frankfurt/Main", "São Paulo, Brazil"), then a short parenthesis ("(CNN Business)", "(dpa)",
# "(EFE)") that a separator follows ("-", "–", ".-", ":") or the sentence itself, unspaced
# ("(CNN)It was"). "Apple (AAPL) shares rose" has neither and is kept.
_PLACE = r"(?:[^\W\d_][\w'’.]*(?:,?[ /-](?:[^\W\d_][\w'’.]*)){0,3},?\s*)"
_ANY_DATELINE = re.compile(
    rf"^{_PLACE}?\((?=[^)]{{2,30}}\))[^\W\d_][^()\d]{{1,29}}\)"
    r"(?:\s*\.?\s*[-–—]{1,2}\s*|\s*\.-\s*|\s*:\s+|(?=[A-ZÀ-Ý„“\"]))"
)
# Captions and picture furniture that page extraction leaves in the text.
# A caption glued to the next sentence: a lower-case word, then a capitalised function word
# that can only start a sentence ("...higher than a colleague The cost of divorce...").
_GLUED = re.compile(
    r"[a-z0-9%)]\s+(?:The|A|An|He|She|It|They|His|Her|Their|Its|This|These|Those|We|I|"
    r"There|But|And|In|On|At|After|Before|When|While|As|Mr|Mrs|Ms)\s+[a-z]"
)
_CAPTION = re.compile(
    r"\b(?:pictured|(?:left|right|above|below|top|bottom|inset)\s*\)|"
    r"\((?:left|right|above|below|top|bottom|inset|file|stock)\b[^)]*\)|file\s+photo|"
    r"photograph(?:ed)?\s+by|getty\s+images|click\s+here|read\s+more)\b",
    re.IGNORECASE,
)

# Every match of _CAPTION holds one of these, in any case; re's IGNORECASE also matches these
# four letters to ASCII ones ("İ", "ı", "ſ", "K"): a text with one is always searched.
_CAPTION_NEEDLES = ("pictured", ")", "file", "photograph", "getty", "click", "read")
_CASE_SPECIAL = re.compile("[\u0130\u0131\u017f\u212a]")


def _is_caption(text: str) -> bool:
    """``_CAPTION.search(text)``, skipped (~25 us) when none of its words is in the text."""
    low = text.lower()
    if not any(map(low.__contains__, _CAPTION_NEEDLES)) and not _CASE_SPECIAL.search(text):
        return False
    return _CAPTION.search(text) is not None


# Openers that need the previous sentence to be understood.
_DANGLING_WORDS = frozenset(
    """he she it they this these those that his her its their him them we
    but and so or yet also still however meanwhile moreover furthermore nevertheless
    nonetheless instead then thus therefore hence besides otherwise consequently likewise
    similarly additionally indeed anyway accordingly such there""".split()
)
_DANGLING_PHRASES = re.compile(
    r"^(?:in\s+addition|as\s+a\s+result|at\s+the\s+same\s+time|on\s+the\s+other\s+hand|"
    r"even\s+so|after\s+that|in\s+turn|by\s+contrast|in\s+contrast|despite\s+this|"
    r"because\s+of\s+this|for\s+this\s+reason|since\s+then|the\s+(?:latter|former))\b",
    re.IGNORECASE,
)
_OPENING_WORD = re.compile(r"^[\W_]*([A-Za-z]+)(?:[’']s)?\b")


def opens_dangling(sentence: str) -> bool:
    """True if ``sentence`` opens with a pronoun or connective that points back."""
    text = sentence.lstrip(" \"'“‘([")
    if _DANGLING_PHRASES.match(text):
        return True
    match = _OPENING_WORD.match(text)
    if match is None:
        return False
    word = match.group(1)
    if word.lower() not in _DANGLING_WORDS:
        return False
    # "US", "IT", "SO": an all-caps acronym is a name, not a pronoun
    return not (len(word) > 1 and word.isupper())


_OPENING_QUOTE = re.compile(r"(?:^|[\s(\[])[‘'](?=\w)")
_CLOSING_QUOTE = re.compile(r"[.,!?;:][’'](?=\s|$)")


def is_quote_fragment(sentence: str) -> bool:
    """True if ``sentence`` is part of a quotation split across sentences.

    Curly quotes must pair up, straight double quotes come in even numbers, and a closing
    single quote after punctuation (``...,' he said``) needs an opening one before it.
    """
    text = sentence.strip()
    if not text:
        return False
    if text[0].islower():
        return True
    if text.count("“") != text.count("”") or text.count('"') % 2:
        return True
    opening = len(_OPENING_QUOTE.findall(text))
    closing = len(_CLOSING_QUOTE.findall(text))
    return closing > opening or (opening > closing and text[0] in "‘'")


_QUOTE_MARKS = re.compile("[“\"‘']")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|(?:^|(?<=\s))‘[^’]*[.,!?]’|(?:^|(?<=\s))'[^']*[.,!?]'")


def quoted_share(sentence: str) -> float:
    """The share of ``sentence`` inside quotation marks (a quote is colour, not news)."""
    if not sentence or not _QUOTE_MARKS.search(sentence):  # every match holds one of them
        return 0.0
    return sum(len(m.group(0)) for m in _QUOTED.finditer(sentence)) / len(sentence)


def is_boilerplate(sentence: str, *, hints: Sequence[str] | None = None) -> bool:
    """True for page furniture: bylines, "Read more", "Click here", credits, and the shapes
    of :func:`is_furniture` in any language. ``hints``: as for :func:`is_furniture`."""
    text = sentence.strip()
    return bool(_BOILERPLATE.match(text)) or is_furniture(text, hints=hints)


# -- furniture by shape, in several languages ------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-–—•▪◦●*·]|\d{1,2}\))\s+(?=\S)")
_CREDIT_WORDS = (r"(?:photo|foto|fotos|bild|bilder|image|imagen|immagine|picture|pic|video|"
                 r"photograph|fotografía|fotografia|crédit|credit|crédito|credito|quelle|source|"
                 r"fuente|fonte|fotocredit|bildquelle|titelbild|symbolbild|beitragsbild|"
                 r"illustration|grafik|graphic)s?")
_CREDIT_PARENS = re.compile(
    rf"\s*\((?:{_CREDIT_WORDS}\s*(?:credit|crédit)?\s*:|©)[^()]{{0,80}}\)"
    # a wire photo credit: "(AP Photo/Evan Vucci)", "(Reuters files)", "(Getty Images)"
    r"|\s*\((?:(?-i:[A-Z])[\w.&-]*\s+|file\s+|stock\s+){1,3}(?:photos?|files?|images?"
    r"|file\s+photo)"
    r"(?:\s*/\s*[^()]{1,60})?\)", re.IGNORECASE)
# An agency or desk mark after the last sentence of a story: "… en Radio Centro. (I)",
# "… said. (Reuters)", "… sagte er. (dpa)".
_SIGN_OFF = re.compile(r"(?<=[.!?…\"”»])\s+\([A-Za-z/]{1,12}\)$")
_DATE_TOKEN = re.compile(
    r"^(?:\d{1,4}(?:[:./-]\d{1,4}){0,2}[.,]?|am|pm|a\.m\.|p\.m\.|uhr|h|[ecmp][sd]t|gmt|utc|"
    r"cet|cest|et|pt|bst|mez|mesz|updated|published|posted|aktualisiert|veröffentlicht|"
    r"publié|publicado|actualizado|mis|à|jour|le|el|de|del|am|um|on|at|by|von|par|por|"
    r"mon|tue|wed|thu|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lundi|mardi|"
    r"mercredi|jeudi|vendredi|samedi|dimanche|lunes|martes|miércoles|jueves|viernes|"
    r"sábado|domingo)$", re.IGNORECASE)
_TIME_OR_DATE = re.compile(
    r"\b\d{1,2}:\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b")
_DIGIT = re.compile(r"\d")
_BYLINE_WORD = re.compile(r"(?:^|\s)(?:[Bb]y|BY|[Vv]on|VON|[Pp]ar|[Pp]or|[Dd]i|[Dd]oor|[Aa]v|[Aa]f)"
                          r"\s+[A-ZÀ-Ý][\w'’-]+")
# Furniture that opens the line: credits, subscribe prompts, "Also on …" labels.
_FURNITURE_START = re.compile(
    r"""\W*(?:
        """ + _CREDIT_WORDS + r"""(?:\s+""" + _CREDIT_WORDS + r""")?\s*(?:courtesy)?\s*[:©|]
      | (?:please\s+|bitte\s+|jetzt\s+|now\s+)?(?:subscribe|abonnieren|abonnez|abonne[zr]
          |suscríbete|suscribirse|suscríbase|abbonati|abbonarsi|assine|sign\s+up|sign\s+in
          |log\s+in|register|create\s+(?:a\s+)?(?:free\s+)?account|registrieren|melden\s+sie
          |inscrivez-vous|connectez-vous|regístrate|inicia\s+sesión)\b
      | also\s+(?:on|in|read|see)(?:\s+[\w.'’&-]+){0,3}\s*[:»>|]
      | file\s+photo\s*: | image\s+(?:copyright|caption)\b | our\s+standards\s*:
      | (?:photo|photograph|picture|image)s?\s+(?:by|courtesy\s+of)\s+(?-i:[A-Z])
      | (?:additional\s+)?(?:reporting|writing|editing)\s+by\s+(?-i:[A-Z])
      | story\s+continues\s+below | (?:this\s+)?advertisement\s+has\s+not\s+loaded
      | thanks?\s+(?:you\s+)?for\s+(?:signing\s+up|subscribing|registering)
      | by\s+(?:signing\s+up|subscribing|registering|clicking)\b
      | you\s+(?:can|may)\s+unsubscribe | have\s+a\s+(?:news\s+)?tip\b
      | contact\s+(?:the\s+)?(?:reporter|writer|author)\s+at\b
      | this\s+(?:article|story|post|piece)\s+(?:was\s+)?(?:originally|first)\s+
          (?:published|appeared)\b
      | get\s+(?:the\s+)?(?:latest|best|top|day's|week's)\b.{0,60}\b(?:delivered|inbox)\b
      | (?:read\s+(?:also|more|next)|see\s+also|more\s+(?:on|from)(?:\s+[\w.'’&-]+){0,3}
          |related(?:\s+(?:stories|articles|coverage|content))?|lesen\s+sie\s+(?:auch|mehr)
          |auch\s+interessant|mehr\s+zum\s+thema|weiterlesen|zum\s+thema
          |à\s+lire\s+(?:aussi|également)|lire\s+(?:aussi|la\s+suite)|voir\s+aussi
          |lee\s+(?:también|más)|te\s+puede\s+interesar|leer\s+más|leggi\s+anche
          |vedi\s+anche|leia\s+(?:também|mais)|anzeige|werbung|advertisement|publicidad
          |publicité|pubblicità)\s*(?:[:»>|–-]|$)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Furniture anywhere in a short line; searched only when one of _FURNITURE_HINTS is in it
# (a search per sentence with these patterns costs ~0.5 ms; the hint test ~2 µs).
_FURNITURE_ANY = re.compile(
    r"""(?:
        ©
      | \b(?:(?:our|from)\s+(?:\w+\s+){0,3}advertisers?|advertiser\s+(?:content|disclosure)
          |affiliate[\s-]+(?:links?|commissions?|programs?)
          |sponsored\s+(?:content|post|article)|paid\s+(?:partnership|post)|partner\s*links?
          |we\s+may\s+(?:earn|receive)|earn\s+a\s+(?:small\s+)?commission
          |provisions?-?links?|werbelinks?
          |enthält\s+werbung|werbung\s+enthalten|lien\s+affilié|liens\s+affiliés
          |enlaces?\s+de\s+afiliados?|link\s+di\s+affiliazione)\b
      | \b(?:our|unser\w*|notre|nos|nuestro|nuestra|nostra|free|daily|weekly|morning|evening
          |kostenlos\w*|gratuite?)\s+(?:[\w-]+\s+){0,2}newsletters?\b
      | \bnewsletters?\s+(?:abonnieren|bestellen|anmelden|sign[\s-]?up)
      | \b(?:to\s+(?:continue|keep)\s+reading|to\s+(?:view|read|access)\s+(?:the|this)\s+full
          |please\s+(?:subscribe|log\s+in|sign\s+in|register)|already\s+a\s+subscriber
          |subscribers?\s+only|exclusive(?:ly)?\s+(?:to|for)\s+subscribers|full\s+(?:story|article)
          \s+is\s+available|weiterlesen\s+mit|jetzt\s+(?:abonnieren|weiterlesen|registrieren)
          |réservé\s+aux\s+abonnés|seguir\s+leyendo|contenido\s+exclusivo)\b
      | \b(?:we|our|this\s+(?:site|website)|diese\s+(?:seite|website)|wir|nous|ce\s+site
          |utilizamos|usamos|usiamo|utilizziamo)\b.{0,60}\bcookies?\b
      | \bcookies?\b.{0,80}\b(?:accept\w*|consent\w*|cookie\s+(?:settings|policy)|preferences
          |akzeptier\w*|zustimm\w*|einwillig\w*|datenschutzerklärung|accepte[rz]|acept\w*
          |accett\w*|you\s+agree|stimmen\s+sie)\b
      | \b(?:javascript)\b.{0,40}\b(?:enable|disabled|aktivier\w*|activ\w*)\b
      | \ball\s+rights\s+reserved\b | \bmay\s+not\s+be\s+(?:\w+,?\s+){0,3}(?:published
          |reproduced|redistributed)\b | \bcivil\s+forum\s+for\s+discussion\b
      | \bencourage\s+all\s+readers\s+to\s+share\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_FURNITURE_HINTS = ("©", "affili", "advertis", "sponsor", "partner", "earn", "compensation",
                    "provision", "werb", "paid", "lien", "enlace", "link", "newsletter", "reading",
                    "full", "subscri", "abonn", "weiterlesen", "jetzt", "seguir", "exclusiv",
                    "cookie", "javascript", "rights", "published", "reproduc", "redistribut",
                    "forum", "readers")
# A wire photo credit: "REUTERS/Lucy Nicholson", "AFP/Getty Images", "EPA/JOHN DOE".
_AGENCY_CREDIT = re.compile(r"\b(?:REUTERS|AFP|AP|EPA|GETTY(?:\s+IMAGES)?|DPA|ANP|XINHUA|ANSA"
                            r"|EFE|KEYSTONE|BELGA|TASS|YONHAP|KYODO|PA)(?:\s+PHOTO)?\s*/\s*"
                            r"[A-Z][\w.'’-]+")
# Sentences longer than this are prose even when they mention a newsletter or a cookie.
_FURNITURE_MAX_WORDS = 40


def is_furniture(sentence: str, *, hints: Sequence[str] | None = None) -> bool:
    """Page furniture recognised by shape, not by one language's phrases: a credit line
    ("Foto: …", "Fotocredit: … ©"), an ad, affiliate or newsletter note, a subscribe or cookie
    prompt, an "Also on …" label, a byline with a date ("5:45 AM PST 11/19/2019 by …"), or a
    line that is nothing but a date and time. ``hints``: those of :data:`_FURNITURE_HINTS`
    that may be in the sentence (:func:`furniture_hints` of a text holding it), when known."""
    text = sentence.strip()
    tokens = text.split()
    if not tokens or len(tokens) > _FURNITURE_MAX_WORDS:
        return False
    if _FURNITURE_START.match(text):
        return True
    low = text.casefold()
    if (any(map(low.__contains__, _FURNITURE_HINTS if hints is None else hints))
            and _FURNITURE_ANY.search(text)):
        return True
    if (len(tokens) <= 20 and _DIGIT.search(text)  # every time or date has a digit
            and _TIME_OR_DATE.search(text) and _BYLINE_WORD.search(text)):
        return True
    if "/" in text and _AGENCY_CREDIT.search(text):
        return True
    if len(tokens) > 12:
        return False
    dated = sum(bool(_DATE_TOKEN.match(t.strip(",.;()|·"))) or _month(t) for t in tokens)
    return dated >= max(2, 0.6 * len(tokens))


def furniture_hints(sentences: Sequence[str]) -> tuple[str, ...]:
    """The furniture hints found in any of ``sentences``: a sentence holds no other one (case
    folding maps each character alone, so a sentence's folding is part of the joined one's;
    no hint holds a line break). One look at an article instead of one a sentence."""
    joined = "\n".join(sentences).casefold()
    return tuple(filter(joined.__contains__, _FURNITURE_HINTS))


def _month(token: str) -> bool:
    return token.strip(",.;()").casefold() in _MONTH_NAMES


_MONTH_NAMES = frozenset("""january february march april may june july august september october
    november december jan feb mar apr jun jul aug sep sept oct nov dec januar februar märz mai
    juni juli oktober dezember janvier février mars avril juin juillet août septembre octobre
    novembre décembre enero febrero marzo abril mayo junio julio agosto septiembre octubre
    noviembre diciembre""".split())


_TERMINAL = re.compile(r"[.!?…\"'”’»)\]]$")
# A line with no end punctuation and fewer words than this is a headline, a label or another
# story's title (related boxes), never a summary sentence.
_HEADLINE_MAX_WORDS = 15


def unfinished(sentence: str) -> bool:
    """True for a line that is no sentence: it ends in a colon (it introduces a list or a
    quote), or it is short and has no end punctuation (a heading, another story's title)."""
    text = sentence.rstrip()
    if text.endswith(":"):
        return True
    return not _TERMINAL.search(text) and len(text.split()) < _HEADLINE_MAX_WORDS


def split_glued(sentence: str) -> list[str]:
    """Split a caption glued to a sentence by page extraction into its parts."""
    parts: list[str] = []
    start = 0
    for match in _GLUED.finditer(sentence):
        parts.append(sentence[start : match.start() + 1].strip())
        start = match.start() + 1
    parts.append(sentence[start:].strip())
    return [p for p in parts if p]


def restates(title: str | None, sentence: str) -> bool:
    """True when ``sentence`` says no more than the ``title`` shown above it: the page's
    ``<h1>`` or standfirst repeating the headline, or the first sentence a title was cut from
    ("Dame Alicia Markova, who has died…")."""
    if not title:
        return False
    return _restates(_title_words(title), _casefolded(words(sentence)))


def _casefolded(tokens: Sequence[str]) -> list[str]:
    """``[w.casefold() for w in tokens]`` in three calls: case folding maps each character on
    its own (no context, unlike ``lower``'s final sigma) and never to a space, so folding the
    words joined by spaces and splitting there gives each word's folding."""
    return " ".join(tokens).casefold().split(" ") if tokens else []


@lru_cache(maxsize=256)
def _title_words(title: str) -> tuple[list[str], frozenset[str], bool]:
    """What :func:`restates` needs of a title: its words casefolded, as a set, and whether it
    was cut ("…"); once per title, not once per sentence it is compared with."""
    head = [w.casefold() for w in words(title.removesuffix("…"))]
    return head, frozenset(head), title.endswith("…")


def _restates(title: tuple[list[str], frozenset[str], bool], body: list[str]) -> bool:
    head, shown, cut = title
    if not head or not body:
        return False
    if cut and body[: len(head)] == head:
        return True
    if sum(map(shown.__contains__, body)) >= 0.8 * len(body):
        return True  # the sentence adds (almost) nothing to the title
    # a standfirst that says the headline again with a word or two more (the length first:
    # most sentences are longer, and then no set of their words is needed)
    return (len(body) <= 1.6 * len(head) + 2
            and sum(map(set(body).__contains__, head)) >= 0.9 * len(head))


_DASHES = re.compile("[-–—]")


def clean_sentence(sentence: str) -> str:
    """Cut datelines ("LONDON (Reuters) -", "(CNN)", "Frankfurt/Main (dpa) -", "(EFE).-"),
    glued furniture from the front and credit parentheses ("(Foto: dpa)") from inside."""
    text = _BULLET.sub("", sentence.strip())
    # the credit, sign-off and dateline patterns all need a "(" (the second dateline shape a
    # dash): without one they cannot match, and their backtracking is skipped
    parens = "(" in text
    if parens:
        text = _CREDIT_PARENS.sub("", text).strip()
        text = _SIGN_OFF.sub("", text)
    dashes = parens or _DASHES.search(text) is not None
    for _ in range(2):
        cut = _FURNITURE_PREFIX.sub("", text, count=1)
        if dashes:
            cut = _DATELINE.sub("", cut, count=1)
        if parens:
            cut = _ANY_DATELINE.sub("", cut, count=1)
        if cut == text:
            break
        text = cut.strip()
    return text


# -- the summarizer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    index: int
    sentence: Sentence
    text: str
    words: int
    tokens: tuple[str, ...]  # bot.text.words(text)
    clean: bool  # no caption, no quote fragment: fit to stand alone in a summary
    eligible: bool  # clean and long enough
    dangling: bool


class NewsSummarizer(LexRankSummarizer):  # type: ignore[misc]
    """Position-aware, redundancy-aware extraction for news (a Sumy summarizer)."""

    def __init__(self, kit: LanguageKit, *, title: str | None = None,
                 params: NewsParams = DEFAULT_PARAMS) -> None:
        super().__init__(kit.stemmer)
        # what LexRank's stop_words setter makes of them, once per language, not per article
        self._stop_words = _normalized_stop_words(kit.stop_words)
        self._terms = _terms_memo(kit.stemmer, self._stop_words)
        self._kit = kit
        self._title = title
        self.params = params

    def stem_word(self, word: str) -> str:
        return _stem(self._stemmer, self.normalize_word(word))

    # Sumy's interface: the picked sentences, in document order.
    def __call__(self, document: ObjectDocumentModel, sentences_count: int) -> tuple[Sentence, ...]:
        candidates = self._candidates(document)
        if not candidates or sentences_count < 1:
            return ()
        title = self._title or " ".join(str(h) for h in document.headings)
        scores, similarity = self._score(candidates, title)
        # only the window that was scored is ranked (the lead prior leaves little to the rest)
        picked = self._select(candidates[:len(scores)], scores, similarity, sentences_count)
        return tuple(
            c.sentence if c.text == str(c.sentence) else Sentence(c.text, self._kit.tokenizer)
            for c in sorted(picked, key=lambda c: c.index)
        )

    def _candidates(self, document: ObjectDocumentModel) -> list[_Candidate]:
        out: list[_Candidate] = []
        title = _title_words(self._title) if self._title else None
        sentences = [(sentence, str(sentence)) for sentence in document.sentences]
        hints = furniture_hints([raw for _, raw in sentences])
        for sentence, raw in sentences:
            if is_boilerplate(raw, hints=hints):
                continue
            unchanged = raw.strip()
            for text in split_glued(clean_sentence(raw)):
                # the raw sentence was just found no boilerplate: the same text is not either
                if text != unchanged and is_boilerplate(text):
                    continue
                tokens = words(text)
                if title is not None and _restates(title, _casefolded(tokens)):
                    continue
                count = len(tokens)
                if count == 0:  # "." or a row of underscores: nothing to read
                    continue
                clean = (not is_quote_fragment(text) and not _is_caption(text)
                         and not unfinished(text))
                eligible = clean and count >= self.params.min_words
                out.append(_Candidate(len(out), sentence, text, count, tokens, clean, eligible,
                                      opens_dangling(text)))
        return out

    def _bag(self, text: str, tokens: Sequence[str] | None = None) -> list[str]:
        """The terms of ``text`` (its ``tokens`` when already split), normalised and stemmed
        as Sumy's LexRank does (``_to_words_set``), each word normalised once where Sumy does
        it twice (its ``stem_word`` normalises again; lower-casing twice changes nothing)."""
        memo = self._terms
        out = []
        for token in words(text) if tokens is None else tokens:
            term = memo.get(token)
            if term is None:
                term = self._term(token)
            if term is not _STOP:
                out.append(term)
        return out

    def _term(self, token: str) -> str:
        """``token``'s term in a bag (:data:`_STOP` for a stop word), remembered."""
        word = token.lower()
        term = _STOP if word in self._stop_words else _stem(self._stemmer, word)
        memo = self._terms
        if len(memo) >= _TERMS_LIMIT:
            memo.clear()
        memo[token] = term
        return term

    def _vectors(self, bags: Sequence[Sequence[str]], title: Sequence[str], *,
                 rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        """L2-normalised tf-idf rows of the first ``rows`` bags and of the title (last row),
        and the sum of the rows of the bags after them (None when there are none).

        The dense matrix has only the first ``rows`` bags and their vocabulary, so its size is
        bounded whatever the article's length; the bags after them count in the document
        frequencies and reach the ranking only through their sum, built term by term (linear
        in the article's words). With no bag past ``rows`` this is the plain dense
        computation, number for number.
        """
        window = [*bags[:rows], title]
        vocabulary: dict[str, int] = {}  # columns in the order terms are first seen
        columns = [[vocabulary.setdefault(term, len(vocabulary)) for term in bag]
                   for bag in window]
        width = max(1, len(vocabulary))
        # term counts (whole numbers: the same floats whatever the order they are added in)
        cells = [row * width + column for row, bag in enumerate(columns) for column in bag]
        matrix = np.bincount(np.array(cells, dtype=np.intp), minlength=len(window) * width)
        matrix = matrix.astype(float).reshape(len(window), width)
        df = np.count_nonzero(matrix[:-1], axis=0)  # the title (last row) is no document
        tail = [Counter(bag) for bag in bags[rows:]]
        tail_df: Counter[str] = Counter()
        for counts in tail:
            tail_df.update(counts.keys())
        for term, count in tail_df.items():
            if (column := vocabulary.get(term)) is not None:
                df[column] += count
        documents = len(bags)
        idf = np.log((1.0 + documents) / (1.0 + df)) + 1.0
        matrix = np.log1p(matrix) * idf
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = np.asarray(matrix / np.where(norms == 0, 1.0, norms))
        if not tail:
            return matrix, None
        tail_sum = np.zeros(matrix.shape[1])
        for counts in tail:
            weights: list[tuple[int | None, float]] = []
            for term, count in counts.items():
                column = vocabulary.get(term)
                term_idf = (float(idf[column]) if column is not None
                            else math.log((1.0 + documents) / (1.0 + tail_df[term])) + 1.0)
                weights.append((column, math.log1p(count) * term_idf))
            norm = math.sqrt(sum(w * w for _, w in weights))
            for column, w in weights:
                if column is not None and norm:
                    tail_sum[column] += w / norm
        return matrix, tail_sum

    def _score(self, candidates: Sequence[_Candidate],
               title: str) -> tuple[np.ndarray, np.ndarray]:
        """Scores of the first :data:`RANK_WINDOW` candidates and their similarities."""
        p = self.params
        n = min(len(candidates), RANK_WINDOW)
        bags = [self._bag(c.text, c.tokens) for c in candidates]
        vectors, tail = self._vectors(bags, self._bag(title), rows=n)
        body, title_vec = vectors[:-1], vectors[-1]
        similarity = body @ body.T
        np.fill_diagonal(similarity, 0.0)
        # PacSum's directed centrality with tf-idf: what a sentence shares with the sentences
        # after it (the story elaborates its lead); similarity to earlier ones is not counted.
        # Past the window, the sentences after it count through their sum (v . sum = sum of v . w)
        centrality = np.triu(similarity, k=1).sum(axis=1)
        if tail is not None:
            centrality = centrality + body @ tail
        spread = centrality.max() - centrality.min()
        centrality = (centrality - centrality.min()) / spread if spread > 0 else np.zeros(n)
        position = np.arange(n, dtype=float)
        lead = 1.0 / (1.0 + position)
        title_overlap = body @ title_vec if title else np.zeros(n)
        length = np.array([c.words for c in candidates[:n]], dtype=float)
        too_long = np.clip((length - p.max_words) / p.max_words, 0.0, 1.0)
        quoted = np.array([quoted_share(c.text) for c in candidates[:n]])
        scores = (centrality + p.lead_weight * lead + p.title_weight * title_overlap - too_long
                  - p.quote_weight * quoted)
        return scores, similarity

    def _select(self, candidates: Sequence[_Candidate], scores: np.ndarray,
                similarity: np.ndarray, count: int) -> list[_Candidate]:
        """Greedy MMR over the eligible candidates, in score order.

        A dangling opener waits until the sentence before it is picked. When only dangling
        openers are left (a long summary of a short article), the sentence before the best of
        them is picked first, so the summary never opens a sentence on a missing referent.
        """
        p = self.params
        picked: list[int] = []
        eligible = [i for i, c in enumerate(candidates) if c.eligible]
        if len(eligible) < count:  # a short article: short sentences will do
            eligible = [i for i, c in enumerate(candidates) if c.clean] or list(
                range(len(candidates))
            )
        remaining = set(eligible)
        while remaining and len(picked) < count:
            best, best_value = -1, -np.inf
            # each candidate's highest similarity to the picked ones, one numpy call a round
            nearest = similarity[:, picked].max(axis=1).tolist() if picked else None
            for i in remaining:
                if candidates[i].dangling and i > 0 and i - 1 not in picked:
                    continue
                closest = nearest[i] if nearest is not None else 0.0
                if closest >= _NEAR_DUPLICATE:
                    continue
                value = scores[i] - p.redundancy * closest
                if value > best_value:
                    best, best_value = i, value
            if best < 0:
                fresh = [i for i in remaining
                         if nearest is None or nearest[i] < _NEAR_DUPLICATE]
                if not fresh:  # all that is left repeats the summary
                    break
                start = best = max(fresh, key=lambda i: scores[i])
                while (best > 0 and candidates[best].dangling and best - 1 not in picked
                       and candidates[best - 1].clean):
                    best -= 1  # walk back to the sentence that holds the referent
                if candidates[best].dangling and best > 0 and best - 1 not in picked:
                    remaining.discard(start)  # its referent cannot stand alone: leave it out
                    continue
            picked.append(best)
            remaining.discard(best)
        return [candidates[i] for i in picked]


# Snowball stemming is most of the cost of a summary, and news repeats its words (one cache
# with the alert analyser's)
_stem = cached_stem


# A bag's terms by token, a dict a language (one lookup a word where lower-casing, the stop
# list and the stem cache were three); cleared when it holds this many tokens.
_TERMS_LIMIT = 200_000
_STOP = "\x00"  # the term of a stop word (no word token holds a NUL, nor does its stem)


@lru_cache(maxsize=8)
def _terms_memo(stemmer: object, stop_words: frozenset[str]) -> dict[str, str]:
    return {}


@lru_cache(maxsize=8)
def _normalized_stop_words(stop_words: frozenset[str]) -> frozenset[str]:
    return frozenset(map(LexRankSummarizer.normalize_word, stop_words))


def news_factory(kit: LanguageKit, title: str | None) -> NewsSummarizer:
    return NewsSummarizer(kit, title=title)
