"""Ingest progress on a terminal: one bar per stage, with articles per second and an ETA."""

from __future__ import annotations

import sys
from typing import TextIO

BAR_FORMAT = (
    "{desc:<9} {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt} articles "
    "[{elapsed}, {rate_noinv_fmt}, ETA {remaining}]"
)


class TerminalProgress:
    """A `progress(stage, done, total)` callback that draws a tqdm bar when `stream` is a
    terminal, and does nothing otherwise (logs and pipes get the summary only)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._bar = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self._stage or self._bar is None or done < self._bar.n:  # a new pass
            self.close()
            from tqdm import tqdm

            self._stage = stage
            self._bar = tqdm(
                desc=stage,
                total=total,
                unit=" articles",
                bar_format=BAR_FORMAT,
                file=self.stream,
                mininterval=0.2,
                dynamic_ncols=True,
            )
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None
