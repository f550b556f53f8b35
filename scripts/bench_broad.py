"""Benchmark: broad and period questions (tests/data/broad_period.jsonl), scored and timed.

    flock /tmp/rag-heavy.lock .venv/bin/python scripts/bench_broad.py [--llm extractive]

Each question is streamed as the UI streams it: "first point" is when the first checked point
is shown, "full answer" when the answer is complete. The model is warmed first (one question
per answer language), as a running server is. Prints a Markdown table and the failures, and
writes the answers and verdicts to bench-results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answering.answer import Answer, Draft  # noqa: E402
from rag.backends.llms import get_llm  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval.summary_verdicts import (  # noqa: E402
    judge_summary,
    summarise_summaries,
    summary_table,
    summary_verdicts_to_json,
)
from rag.eval.verdicts import load_questions  # noqa: E402
from rag.service import Service  # noqa: E402

SETS = ("tests/data/broad_period.jsonl", "tests/data/broad_period_reworded.jsonl")
WARM_UP = ("Que disent les articles publiés en mars 2025 ?", "Summarise what the articles say.")


class Profiled:
    """An LLM that prints, for each call, the tokens of the prompt's last message (what the
    cached prefix does not cover), the seconds to the first generated piece (mostly reading
    the prompt), the reply's tokens and the call's seconds."""

    def __init__(self, llm) -> None:
        self.llm, self.name, self.kind = llm, llm.name, llm.kind

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        started = time.perf_counter()
        first, reply = None, ""
        for piece in self.llm.stream(messages, schema, temperature, max_tokens):
            if first is None and not piece.startswith('{"'):  # the forced opening is instant
                first = time.perf_counter() - started
            reply += piece
            yield piece
        tokens = getattr(self.llm, "_llama", None)
        count = (lambda text: len(tokens.tokenize(text.encode(), add_bos=False))) if tokens else len
        seconds = time.perf_counter() - started
        print(
            f"    call: {count(messages[-1]['content'])} prompt tokens, first piece "
            f"{first or 0:.2f} s, {count(reply)} reply tokens, {seconds:.2f} s",
            file=sys.stderr,
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", action="append", help=f"question sets (default {SETS})")
    parser.add_argument("--llm", default=None, help="backend (default: the settings')")
    parser.add_argument("--only", help="comma-separated item ids")
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    parser.add_argument(
        "--profile", action="store_true", help="print each model call's prompt and reply timings"
    )
    args = parser.parse_args()
    settings = Settings.load().replace(corpus_dir=str(ROOT / "seeds"))
    if args.llm:
        settings = settings.replace(llm=args.llm)
    llm = get_llm(settings.llm, settings)
    service = Service.open(settings, llm=Profiled(llm) if args.profile else llm)
    for question in WARM_UP:
        service.ask(question)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "llm": service.llm.name, "sets": {}}
    summaries = {}
    for path in args.questions or [str(ROOT / s) for s in SETS]:
        items = load_questions(path)
        if args.only:
            items = [i for i in items if i["id"] in args.only.split(",")]
        verdicts = []
        for item in items:
            started = time.perf_counter()
            first_point = None
            for event in service.stream(item["question"]):
                if isinstance(event, Draft) and first_point is None:
                    first_point = time.perf_counter() - started
                if isinstance(event, Answer):
                    answer = event
            verdict = judge_summary(item, answer, service.embedder, first_point)
            verdicts.append(verdict)
            print(
                f"{'ok ' if verdict.passed else 'BAD'} {item['id']} "
                f"{verdict.first_point:.1f}/{verdict.total:.1f} s {answer.text[:300]}",
                file=sys.stderr,
                flush=True,
            )
        name = f"{Path(path).stem}, {service.llm.name}"
        summaries[name] = summarise_summaries(verdicts)
        results["sets"][name] = {
            "summary": summaries[name],
            "verdicts": summary_verdicts_to_json(verdicts),
        }
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / f"broad-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False), "utf-8"
    )
    print(summary_table(summaries))
    for name, summary in summaries.items():
        if summary["failures"]:
            print(f"- {name} failed: {', '.join(summary['failures'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
