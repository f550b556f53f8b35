"""A killed ingest resumes from its embedding cache; the previous index stays live meanwhile."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
from conftest import ROOT, SEEDS

from rag.index.embed_cache import CACHE_FILE, EmbeddingCache
from rag.index.store import build_index, load_index
from rag.ingest.corpus import load_corpus

# An ingest in its own process, with an embedder slow enough to be killed half-way.
INGEST = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{root!r}, {tests!r}]
    from conftest import HashingEmbedder
    from rag.ingest.corpus import load_corpus
    from rag.index.store import build_index

    class Slow(HashingEmbedder):
        def embed_batch(self, texts, is_query):
            time.sleep(0.05)
            return super().embed_batch(texts, is_query)

    build_index(load_corpus(sys.argv[1]).documents, Slow(), sys.argv[2], 128, 24)
    """
)


def write_archive(folder, articles: int) -> None:
    """Distinct articles made of the seeds' paragraphs (each one numbered, so none repeats)."""
    paragraphs = [
        p.strip()
        for path in sorted(SEEDS.glob("*.txt"))
        for p in path.read_text(encoding="utf-8").split("\n\n")
        if len(p.strip()) > 80
    ]
    folder.mkdir()
    for n in range(articles):
        picked = [paragraphs[(n * 7 + k) % len(paragraphs)] for k in range(4)]
        body = "\n\n".join(f"{text} (Archive {n}, passage {k}.)" for k, text in enumerate(picked))
        (folder / f"{n:04d}.txt").write_text(f"Article {n}\n\n{body}\n", encoding="utf-8")


def cached(index_dir) -> int:
    try:
        with sqlite3.connect(index_dir / CACHE_FILE, timeout=1) as db:
            return db.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_ingest_killed_midway_resumes_without_re_embedding(tmp_path, seed_copy, hashing_embedder):
    index_dir = tmp_path / "index"
    build_index(load_corpus(seed_copy).documents, hashing_embedder, index_dir, 128, 24)
    before = load_index(index_dir)
    archive = tmp_path / "archive"
    write_archive(archive, 120)
    documents = load_corpus(archive).documents

    script = INGEST.format(root=str(ROOT), tests=str(ROOT / "tests"))
    process = subprocess.Popen([sys.executable, "-c", script, str(archive), str(index_dir)])
    deadline = time.monotonic() + 120
    while cached(index_dir) < 400 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the ingest ended before it could be killed: make it bigger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before_kill = cached(index_dir)
    assert done_before_kill >= 400

    # The previous index is still the live one, whole.
    after_kill = load_index(index_dir)
    assert after_kill.directory == before.directory
    assert len(after_kill.chunks) == len(before.chunks)

    # The next ingest embeds only what the killed one had not.
    hashing_embedder.calls.clear()
    report = build_index(documents, hashing_embedder, index_dir, 128, 24)
    texts = report.cached_texts + report.embedded_texts
    assert report.cached_texts == done_before_kill
    assert 0 < report.embedded_texts < texts - 400
    assert hashing_embedder.embedded == report.embedded_texts
    index = load_index(index_dir)
    assert len(index.documents) == 120 and not (index_dir / CACHE_FILE).exists()
    # The vectors from the cache are those a fresh embedding gives.
    fresh = hashing_embedder.embed_batch([c.text for c in index.chunks], False)
    assert np.allclose(fresh, index.vectors, atol=1e-6)


def test_damaged_cache_is_set_aside(tmp_path, seed_copy, hashing_embedder):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    (index_dir / CACHE_FILE).write_bytes(b"not a database at all" * 100)
    report = build_index(load_corpus(seed_copy).documents, hashing_embedder, index_dir, 128, 24)
    assert report.cached_texts == 0 and report.embedded_texts == hashing_embedder.embedded > 0
    assert load_index(index_dir).chunks


def test_cache_is_keyed_by_embedder(tmp_path):
    cache = EmbeddingCache(tmp_path, "model-a")
    cache.put(["k1"], np.ones((1, 4), dtype=np.float32))
    assert set(cache.get(["k1", "k2"], 4)) == {"k1"}
    assert cache.get(["k1"], 8) == {}, "a vector of another dimension is not reused"
    cache.close()
    assert EmbeddingCache(tmp_path, "model-b").get(["k1"]) == {}
