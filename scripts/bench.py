"""Benchmark: ingest, retrieval and answer latency and quality on the seeds (not a test).

    .venv/bin/python scripts/bench.py [--llm qwen2.5-coder-1.5b --llm extractive]
    .venv/bin/python scripts/bench.py --llm qwen2.5-coder-1.5b --questions ''  # time set only

Prints a Markdown table (for docs/evaluation.md, docs/lab/) and writes the raw figures to
bench-results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answering.answer import AnswerPipeline  # noqa: E402
from rag.answering.retrieval import Retriever  # noqa: E402
from rag.backends.llms import get_llm  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval.tables import backends_table  # noqa: E402
from rag.eval.time_verdicts import (  # noqa: E402
    judge_time,
    summarise_time,
    time_table,
    time_verdicts_to_json,
)
from rag.eval.verdicts import judge, load_questions, percentile, summarise, verdicts_to_json  # noqa: E402
from rag.index.embedders import get_embedder  # noqa: E402
from rag.index.engine import ingest  # noqa: E402
from rag.index.store import load_index  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", action="append", help="backends to measure (repeatable)")
    parser.add_argument(
        "--questions",
        default=str(ROOT / "tests/data/questions.jsonl"),
        help="seed question set ('' skips it)",
    )
    parser.add_argument(
        "--time-questions",
        default=str(ROOT / "tests/data/time_questions.jsonl"),
        help="questions about periods, scored by rag.eval.time_verdicts ('' skips them)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    args = parser.parse_args()
    llms = args.llm or ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "extractive"]
    questions = load_questions(args.questions) if args.questions else []
    time_questions = load_questions(args.time_questions) if args.time_questions else []
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = Settings(index_dir=str(work / "index"), corpus_dir=str(ROOT / "seeds"))
    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "embedder": settings.embedder,
    }
    try:
        embedder = get_embedder(settings.embedder)
        report, loaded = ingest(settings, embedder=embedder)
        again, _ = ingest(settings, embedder=embedder)
        results["ingest"] = {
            "documents": len(loaded.documents),
            "chunks": report.total_chunks,
            "cold_seconds": round(report.seconds, 2),
            "unchanged_seconds": round(again.seconds, 2),
            "unchanged_embedded": again.embedded_chunks,
        }
        retriever = Retriever(load_index(settings.index_dir), embedder)
        retriever.retrieve("warm-up", settings.top_k, settings.evidence)
        timings = []
        for item in questions or time_questions:
            started = time.perf_counter()
            retriever.search(item["question"], settings.top_k)
            timings.append(time.perf_counter() - started)
        results["retrieval_ms"] = {
            "median": round(1000 * statistics.median(timings), 1),
            "p90": round(1000 * percentile(timings, 90), 1),
        }
        results["answers"] = {}
        results["time_answers"] = {}
        for name in llms:
            llm = get_llm(name, settings)
            pipeline = AnswerPipeline(retriever, llm, settings)
            pipeline.ask("Qui a dévoilé le plan ?")  # warm: model loaded, prompt prefix cached
            if questions:
                verdicts = [judge(item, pipeline.ask(item["question"])) for item in questions]
                results["answers"][name] = {
                    "summary": summarise(verdicts),
                    "verdicts": verdicts_to_json(verdicts),
                }
                print(f"{name}: {summarise(verdicts)}", file=sys.stderr)
            if time_questions:
                timed = [
                    judge_time(item, pipeline.ask(item["question"])) for item in time_questions
                ]
                results["time_answers"][name] = {
                    "summary": summarise_time(timed),
                    "verdicts": time_verdicts_to_json(timed),
                }
                print(f"{name} (time questions): {summarise_time(timed)}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False), "utf-8"
    )
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    ingest_ = results["ingest"]
    lines = [
        f"Measured {results['date']} on {results['machine']}; embedder {results['embedder']}.",
        "",
        f"- Ingest of the {ingest_['documents']} seeds ({ingest_['chunks']} chunks): "
        f"{ingest_['cold_seconds']} s cold; re-ingest unchanged: {ingest_['unchanged_seconds']} s, "
        f"{ingest_['unchanged_embedded']} chunks embedded.",
        f"- Retrieval (hybrid search, warm): median {results['retrieval_ms']['median']} ms, "
        f"p90 {results['retrieval_ms']['p90']} ms.",
    ]
    if results["answers"]:
        summaries = {name: data["summary"] for name, data in results["answers"].items()}
        lines += ["", backends_table(summaries)]
    if results["time_answers"]:
        summaries = {name: data["summary"] for name, data in results["time_answers"].items()}
        lines += [
            "",
            "Time questions (tests/data/time_questions.jsonl):",
            "",
            time_table(summaries),
        ]
        for name, summary in summaries.items():
            if summary["failures"]:
                lines.append(f"- {name} failed: {', '.join(summary['failures'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
