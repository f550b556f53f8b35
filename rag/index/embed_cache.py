"""The vectors an ingest has embedded so far, so that a killed or failed ingest resumes.

One SQLite file in the index folder, keyed by (embedder id, SHA-256 of the text). An ingest
looks every text up before calling the embedder and commits each batch it embeds, so a kill
loses at most the batch under way; SQLite's journal rolls back a half-written one. A damaged
file is set aside and the ingest starts afresh. Once a generation is live it holds every
vector, and the cache is deleted: it lives only between a failed ingest and the next one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE_FILE = "embed-cache.sqlite"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS vectors ("
    " embedder TEXT NOT NULL, sha TEXT NOT NULL, vector BLOB NOT NULL,"
    " PRIMARY KEY (embedder, sha))"
)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by (embedder id, text hash), committed batch by batch."""

    def __init__(self, index_dir: str | Path, embedder_id: str) -> None:
        self.path = Path(index_dir) / CACHE_FILE
        self.embedder_id = embedder_id
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            log.warning("Embedding cache %s is damaged (%s): starting afresh.", self.path, exc)
            self._remove_files()
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")  # a killed writer leaves the last commit intact
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(SCHEMA)
        db.execute("SELECT count(*) FROM vectors").fetchone()  # fails now if damaged
        return db

    def get(self, keys: list[str], dimension: int | None = None) -> dict[str, np.ndarray]:
        """The cached vectors among `keys` (of `dimension` floats, when given)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        try:
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT sha, vector FROM vectors WHERE embedder = ? AND sha IN ({marks})",
                    [self.embedder_id, *part],
                )
                for sha, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if dimension is None or vector.shape[0] == dimension:
                        found[sha] = vector
        except sqlite3.DatabaseError as exc:
            log.warning("Embedding cache %s unreadable (%s): re-embedding.", self.path, exc)
            return {}
        return found

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store one batch, committed at once."""
        rows = [
            (self.embedder_id, key, np.ascontiguousarray(vector, dtype=np.float32).tobytes())
            for key, vector in zip(keys, vectors, strict=True)
        ]
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
        except sqlite3.DatabaseError as exc:  # a full disk: the ingest goes on uncached
            log.warning("Embedding cache %s not written (%s).", self.path, exc)

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def delete(self) -> None:
        """Close and remove the cache (its vectors are in a live generation now)."""
        self.close()
        self._remove_files()

    def _remove_files(self) -> None:
        remove_cache(self.path.parent)


def remove_cache(index_dir: str | Path) -> None:
    """Remove an index's cache files without opening them (a full disk cannot open SQLite)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{Path(index_dir) / CACHE_FILE}{suffix}").unlink(missing_ok=True)
