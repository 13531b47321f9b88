"""Progress and outcome of long command-line work (ingest, summarize --jsonl, poll, import).

On a terminal: a progress bar (tqdm) on standard error with the counts so far, and a line
above it for each item that went wrong. Piped or redirected: one line per item that names it,
so a log or a script sees every outcome (standard output; refusals on standard error). Either
way, one line of totals on standard error at the end ("3 stored, 1 already known, 1 refused:
notes.txt"), or, when interrupted, how far it got and that the same command continues
("stopped after 12 of 40 files; run the same command to continue": the work is idempotent,
so nothing is done twice).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

__all__ = ["Progress"]

_SHOWN_REFUSED = 10


class Progress:
    """Counts outcomes of ``total`` items (``unit``: "file", "feed", "record") and reports them.

    ``problems``: outcomes that are worth a line even under a progress bar ("refused",
    "failed"); ``order``: the outcomes in the order the totals name them.
    """

    def __init__(self, total: int | None, *, unit: str, order: tuple[str, ...],
                 problems: tuple[str, ...] = ("refused", "failed"), out: TextIO | None = None,
                 err: TextIO | None = None, tty: bool | None = None, item_lines: bool = True,
                 resume_hint: str = "run the same command to continue") -> None:
        self.total = total
        self.unit = unit
        self.order = order
        self.problems = problems
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.tty = (self.err.isatty() and (self.out.isatty() or not item_lines)
                    if tty is None else tty)
        self.item_lines = item_lines  # False: standard output is the data (summarize --jsonl)
        self.resume_hint = resume_hint
        self.counts: Counter[str] = Counter()
        self.refused: list[str] = []
        self.done = 0
        self._bar: tqdm[None] | None = None
        if self.tty:
            self._bar = tqdm(total=total, unit=f" {unit}s", file=self.err, leave=False,
                             dynamic_ncols=True, mininterval=0.2)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if exc_type is None:
            self.err.write(self.totals() + "\n")
        elif issubclass(exc_type, KeyboardInterrupt | asyncio.CancelledError):
            self.err.write(self.stopped() + "\n")
        self.err.flush()
        self.out.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def item(self, name: str, outcome: str, line: str = "") -> None:
        """Record one item's ``outcome``; ``line``: what to print for it (default: the name and
        the outcome)."""
        self.done += 1
        self.counts[outcome] += 1
        text = line or f"{name}\t{outcome}"
        if outcome in self.problems:
            self.refused.append(name)
        if self._bar is None:
            if outcome in self.problems or self.item_lines:
                stream = self.err if outcome in self.problems else self.out
                stream.write(text + "\n")
                stream.flush()
            return
        if outcome in self.problems:
            self._bar.write(text, file=self.err)
        self._bar.set_postfix_str(self._counts_text(), refresh=False)
        self._bar.update(1)

    def note(self, text: str) -> None:
        """A line about the run itself (not an item), above the bar or on standard error."""
        if self._bar is not None:
            self._bar.write(text, file=self.err)
        else:
            self.err.write(text + "\n")

    def _counts_text(self) -> str:
        names = [*self.order, *sorted(set(self.counts) - set(self.order))]
        return ", ".join(f"{self.counts[k]} {k}" for k in names if self.counts[k] or
                         k == self.order[0])

    def totals(self) -> str:
        """``3 stored, 1 already known, 1 refused: a.txt`` (at most 10 names shown)."""
        text = self._counts_text()
        if self.refused:
            shown = ", ".join(self.refused[:_SHOWN_REFUSED])
            more = len(self.refused) - _SHOWN_REFUSED
            text += f": {shown}" + (f" and {more} more" if more > 0 else "")
        return f"{text}." if self.done else f"no {self.unit}s."

    def stopped(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        plural = "s" if (self.total if self.total is not None else self.done) != 1 else ""
        return (f"stopped after {self.done}{of} {self.unit}{plural} ({self._counts_text()}); "
                f"{self.resume_hint}")
