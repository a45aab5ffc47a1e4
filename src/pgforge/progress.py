"""Progress on a terminal, silence everywhere else.

Long runs (a fleet of thousands of hosts, an apply that validates, writes and reloads) say what
they are doing, but only to a person: output goes to stderr and only when stderr is a terminal,
and never when the caller asked for machine-readable output. Piped into a file or a CI log, a
run prints exactly its result and nothing else, so ``pgforge ... --format json | jq`` always works.
Redraws are throttled (10 per second) so that progress never costs measurable time.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def interactive(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stderr) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A one-line counter: ``label  1234/10000  12%  3.1s``, redrawn in place.

    ``enabled=None`` means "when the stream is a terminal"; pass False for ``--format json``.
    """

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, enabled: bool | None = None,
                 interval: float = 0.1) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.interval = interval
        self.done = 0
        self.failed = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._width = 0

    def advance(self, n: int = 1, *, failed: int = 0) -> None:
        self.done += n
        self.failed += failed
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        pct = f"{100 * self.done // self.total:3d}%" if self.total else ""
        fail = f"  {self.failed} failed" if self.failed else ""
        line = f"{self.label}  {self.done}/{self.total}  {pct}  {now - self._start:.1f}s{fail}"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        """Erase the line, so what follows starts on a clean line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def status(message: str, *, enabled: bool | None = None, stream: TextIO | None = None) -> None:
    """A step of a longer run (``validating with postgres -C ...``), shown only on a terminal."""
    stream = stream if stream is not None else sys.stderr
    if (interactive(stream) if enabled is None else enabled):
        stream.write(f"pgforge: {message}\n")
        stream.flush()
