"""One ingest at a time per index: a lock file that a second ingest waits on, with a message."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".ingest.lock"


@contextmanager
def ingest_lock(index_dir: str | Path, notify: Callable[[str], None]) -> Iterator[None]:
    """Hold the index's ingest lock; if another process holds it, say so and wait.

    An advisory `flock`: the kernel releases it when its holder dies, even by SIGKILL, so a
    killed ingest never leaves a stale lock behind. The file itself stays (removing it while
    another process waits on it would let a third one take a second lock).
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            notify(
                f"Another ingest is running on {index_dir}/ ({holder}): waiting for it to "
                "finish (Ctrl-C to stop waiting)."
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
            notify(f"The other ingest on {index_dir}/ is over: going on.")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
