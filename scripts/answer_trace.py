"""Per-question traces of the answer pipeline, for tuning on the dev split (not a benchmark).

For each question: the evidence shown to the model (article, score, text), whether a gold answer
is in it, the model's raw reply, the final answer and its verdict. The model's replies are
recorded (`--record`), so a second run that changes only what happens after the model replays
them at once.

    .venv/bin/python scripts/answer_trace.py --dataset ../shared/eval/piaf-v1.0.json --split dev
    .venv/bin/python scripts/answer_trace.py --questions tests/data/questions.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.answering.answer import AnswerPipeline  # noqa: E402
from rag.backends.llms import get_llm  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval.benchmarks import RecordedLLM  # noqa: E402
from rag.eval.verdicts import (  # noqa: E402
    _plain,
    judge,
    judge_broad,
    load_questions,
    summarise,
    summarise_broad,
)
from rag.index.embedders import get_embedder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="SQuAD-format file (PIAF)")
    source.add_argument("--questions", help="question set (JSON lines) over --corpus")
    parser.add_argument("--corpus", default="seeds")
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--llm", default=None)
    parser.add_argument("--record", default=".eval/replies.jsonl")
    parser.add_argument("--work-dir", default=".eval")
    parser.add_argument("--limit", type=int)
    parser.add_argument("-o", "--output", default=None, help="traces (JSON lines)")
    args = parser.parse_args()

    settings = Settings.load().replace(llm=args.llm)
    embedder = get_embedder(settings.embedder)
    if args.dataset:
        from rag.eval.squad_answers import prepare

        split, retriever = prepare(
            args.dataset, settings, embedder, Path(args.work_dir) / Path(args.dataset).stem
        )
        items = split.questions[args.split]
        name = f"{Path(args.dataset).stem}-{args.split}"
    else:
        from rag.answering.retrieval import Retriever
        from rag.index.store import build_index, load_index
        from rag.ingest.corpus import load_corpus

        index_dir = Path(args.work_dir) / f"{Path(args.corpus).name}-index"
        build_index(
            load_corpus(args.corpus).documents,
            embedder,
            index_dir,
            settings.chunk_size,
            settings.chunk_overlap,
        )
        retriever = Retriever(load_index(index_dir), embedder)
        items = load_questions(args.questions)
        name = Path(args.questions).stem
    if args.limit:
        items = items[: args.limit]
    llm = RecordedLLM(get_llm(settings.llm, settings), args.record)
    pipeline = AnswerPipeline(retriever, llm, settings)
    output = Path(args.output or Path(args.work_dir) / f"trace-{name}.jsonl")
    verdicts = []
    with output.open("w", encoding="utf-8") as out:
        for number, item in enumerate(items, 1):
            llm.last_reply = None
            filters = pipeline.resolve_filters(item["question"])  # the period ask() uses
            retrieval = pipeline.retrieve(item["question"], filters=filters)
            answer = pipeline.ask(item["question"])
            broad = "points_any" in item
            verdict = judge_broad(item, answer) if broad else judge(item, answer)
            verdicts.append(verdict)
            gold = [_plain(a) for a in item.get("answer_any", [])]
            trace = {
                "id": item["id"],
                "question": item["question"],
                "answerable": item.get("answerable", True),
                "doc_ids": item["doc_ids"],
                "gold": item.get("answer_any", []),
                "best_score": round(retrieval.best_score, 4),
                "gold_doc_in_hits": any(h.chunk.doc_id in item["doc_ids"] for h in retrieval.hits),
                "gold_in_evidence": any(
                    g in _plain(e.text) for g in gold for e in retrieval.evidence
                ),
                "gold_in_hits": any(
                    g in _plain(h.chunk.text) for g in gold for h in retrieval.hits
                ),
                "evidence": [
                    [e.number, e.doc_id, round(e.score, 4), " ".join(e.text.split())]
                    for e in retrieval.evidence
                ],
                "reply": llm.last_reply,
                "answer": answer.text,
                "refused": answer.refused,
                "correct": getattr(verdict, "correct", None),
                "cited": getattr(verdict, "cited", None),
                "passed": verdict.passed,
                "timings": answer.timings,
            }
            out.write(json.dumps(trace, ensure_ascii=False) + "\n")
            out.flush()
            print(
                f"[{number}/{len(items)}] {'ok ' if verdict.passed else 'BAD'} {item['id']}",
                file=sys.stderr,
                flush=True,
            )
    broad = verdicts and not hasattr(verdicts[0], "correct")
    print(json.dumps((summarise_broad if broad else summarise)(verdicts), indent=1))
    print(f"traces in {output}; {llm.replayed} replies replayed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
