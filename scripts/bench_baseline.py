"""Benchmark the baseline to beat: a plain llama-index pipeline on the seeds (not a test).

    .venv/bin/python scripts/bench_baseline.py [--llm qwen2.5-coder-1.5b] [--limit N]
    .venv/bin/python scripts/bench_baseline.py --replay bench-results/baseline.json

Same seeds, embedder and LLM as the product (see rag/eval/baseline.py), judged by the same
`rag.eval.verdicts.judge`. Prints a Markdown row in the columns of scripts/bench.py and writes the
raw figures to bench-results/baseline.json. `--replay` re-judges the replies recorded in an
earlier run (same retrieval, recorded timings) without the hour of generation on 2 cores, e.g.
after a change to how replies are read in rag/eval/baseline.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.backends.llms import LLM, get_llm  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval.baseline import ask_or_error, build_baseline  # noqa: E402
from rag.eval.tables import backends_table  # noqa: E402
from rag.eval.verdicts import judge, load_questions, summarise, verdicts_to_json  # noqa: E402
from rag.index.embedders import get_embedder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", default=Settings().llm)
    parser.add_argument("--questions", default=str(ROOT / "tests/data/questions.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    parser.add_argument("--replay", help="a baseline.json whose replies are judged again")
    args = parser.parse_args()
    questions = load_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    settings = Settings(corpus_dir=str(ROOT / "seeds"), llm=args.llm)
    embedder = get_embedder(settings.embedder)
    replayed = json.loads(Path(args.replay).read_text("utf-8")) if args.replay else None
    recorded = _recorded(replayed) if replayed else {}
    llm = ReplayLLM(settings.llm, recorded) if recorded else get_llm(settings.llm, settings)
    started = time.perf_counter()
    baseline = build_baseline(settings.corpus_dir, embedder, llm, settings)
    build_seconds = time.perf_counter() - started
    if not recorded:
        baseline.ask("Qui a dévoilé le plan ?")  # warm, as scripts/bench.py does
    load_before = os.getloadavg()
    verdicts, details = [], []
    for item in questions:
        answer = ask_or_error(baseline, item["question"])
        verdict = judge(item, answer)
        if recorded:  # the timings of the run that generated the replies
            verdict.first_token, verdict.total = recorded[item["question"]][1:]
        verdicts.append(verdict)
        cited = [[source.n, source.doc_id] for source in answer.sources]
        details.append({"id": item["id"], "notice": answer.notice, "cited": cited})
        print(
            f"{item['id']}: {'pass' if verdict.passed else 'FAIL'} "
            f"{verdict.total:.1f}s {verdict.answer[:100]!r}",
            file=sys.stderr,
        )
    summary = summarise(verdicts)
    name = f"llama-index baseline ({settings.llm})"
    results = {
        "date": replayed["date"] if replayed else time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "embedder": settings.embedder,
        "llm": settings.llm,
        "replayed_from": args.replay,
        "pipeline": {
            "index": "VectorStoreIndex, SentenceSplitter() defaults (1024 tokens, overlap 200)",
            "retriever": "default similarity_top_k=2",
            "engine": "CitationQueryEngine.from_args defaults (512/20 citation chunks, "
            "default prompts, compact mode), streaming",
            "context_window": baseline.context_window,
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "nodes": baseline.nodes,
            "build_seconds": round(build_seconds, 2),
        },
        # Other work on the machine slows llama.cpp a lot: compare timings at similar load.
        "load_average_before_after": replayed["load_average_before_after"]
        if replayed
        else [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "answers": {
            name: {
                "summary": summary,
                "verdicts": verdicts_to_json(verdicts),
                "details": details,  # why refused, and which numbered source is which article
            }
        },
    }
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "baseline.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    print(f"{name}: {summary}", file=sys.stderr)
    print(backends_table({name: summary}))
    return 0


class ReplayLLM(LLM):
    """Gives, for each question, the final reply recorded in an earlier run."""

    kind = "replay"

    def __init__(self, name: str, recorded: dict[str, tuple[str, float, float]]) -> None:
        self.name = name
        self.recorded = recorded

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        # The engine's prompt ends with "Query: <question>\nAnswer:", after its worked example.
        question = re.findall(r"Query: (.*)\nAnswer:", messages[-1]["content"])[-1]
        yield self.recorded[question][0]


def _recorded(results: dict) -> dict[str, tuple[str, float, float]]:
    """question -> (reply, first token, total) from a baseline.json."""
    (data,) = results["answers"].values()
    return {v["question"]: (v["answer"], v["first_token"], v["total"]) for v in data["verdicts"]}


if __name__ == "__main__":
    sys.exit(main())
