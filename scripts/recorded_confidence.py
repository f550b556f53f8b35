"""Two confidence models compared on the same answers
(docs/lab/2026-12-07-confidence-across-languages.md).

`record` answers a PIAF split's sample once with the confidence standing aside (every answer the
answer checks let through is given) and keeps each question's features and verdict; `rate`
applies the shipped confidence, and the shipped one without its model across languages, to
those answers. The decision comes before the answer is written, so this is what a run under
each model gives.

    .venv/bin/python scripts/recorded_confidence.py record --split test \\
        --translations tests/data/piaf_en.jsonl --out test-en.json
    .venv/bin/python scripts/recorded_confidence.py rate test-en.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

import numpy as np

DATASET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "piaf-v1.0.json"


def record(split: str, translations: str | None, work_dir: Path, out: Path) -> None:
    from tqdm import tqdm

    from rag.answering.answer import AnswerPipeline
    from rag.config import Settings
    from rag.eval import confidence_training as training
    from rag.eval.squad_answers import prepare
    from rag.eval.verdicts import judge
    from rag.service import Service

    settings = dataclasses.replace(Settings.load(), factual_answers="judged")
    service = Service(settings)
    sample, retriever = prepare(DATASET, settings, service.embedder, work_dir, progress=False)
    asked = [(item, None) for item in sample.questions[split]]
    if translations:
        asked = training.in_translation(asked, translations)
    recorder = training.Recorder(across=bool(translations))
    pipeline = AnswerPipeline(retriever, service.llm, settings, confidence=recorder)
    pipeline.ask("Quelle est la capitale de la France ?")  # warm, as `rag eval answers` does
    rows = []
    for item, _ in tqdm(asked, unit="q"):
        recorder.rows.clear()
        verdict = judge(item, pipeline.ask(item["question"]))
        rows.append(
            {
                "id": item["id"],
                "answerable": item["answerable"],
                "refused": verdict.refused,
                "right": verdict.right,
                "features": recorder.rows[-1] if recorder.rows else None,
                "language_ok": verdict.language_ok,
                "first_token": verdict.first_token,
                "total": verdict.total,
            }
        )
    out.write_text(json.dumps(rows, indent=1))


def figures(rows: list[dict], confidence) -> dict:
    """What refusing and labelling as `confidence` does (each answer rated as the product rates
    it) gives on the recorded answers."""
    from rag.eval.confidence_training import calibration_error

    given = []
    for row in rows:
        if row["features"] is None or row["refused"]:
            continue
        rating = confidence.rating(row["features"])
        probability = rating.probability(row["features"])
        if probability >= rating.answer:
            given.append((row, probability, rating.label(probability) == "sure"))
    answered = {row["id"] for row, _, _ in given}
    answerable = [r for r in rows if r["answerable"]]
    absent = [r for r in rows if not r["answerable"]]
    sure = [row["right"] for row, _, is_sure in given if is_sure]
    probability = np.array([p for _, p, _ in given])
    right = np.array([row["right"] for row, _, _ in given], dtype=float)
    totals = sorted(row["total"] for row, _, _ in given)
    return {
        "correct_and_cited": sum(r["right"] and r["id"] in answered for r in answerable)
        / len(answerable),
        "refused_unanswerable": sum(r["id"] not in answered for r in absent) / len(absent),
        "wrongly_refused": sum(r["id"] not in answered for r in answerable) / len(answerable),
        "answers": len(given),
        "calibration_error": calibration_error(probability, right),
        "sure_share": len(sure) / len(given) if given else 0.0,
        "sure_right": sum(sure) / len(sure) if sure else None,
        "language": float(np.mean([row["language_ok"] for row, _, _ in given])) if given else 0,
        "total_median": statistics.median(totals) if totals else None,
    }


def rate(path: Path) -> None:
    from rag.answering import confidence

    rows = json.loads(path.read_text())
    shipped = confidence.load()
    for name, model in (
        ("same-language model only", dataclasses.replace(shipped, across=None)),
        ("shipped", shipped),
    ):
        shown = {k: round(v, 3) if v else v for k, v in figures(rows, model).items()}
        print(name, json.dumps(shown))


def main() -> None:
    parser = argparse.ArgumentParser(description="Two confidence models on the same answers.")
    commands = parser.add_subparsers(dest="command", required=True)
    answering = commands.add_parser("record", help="answer a split's sample and record it")
    answering.add_argument("--split", choices=("dev", "test"), required=True)
    answering.add_argument("--translations", help="e.g. tests/data/piaf_en.jsonl")
    answering.add_argument("--work-dir", type=Path, default=Path(".eval/piaf-v1.0"))
    answering.add_argument("--out", type=Path, required=True)
    rating = commands.add_parser("rate", help="the figures of each model on recorded answers")
    rating.add_argument("recorded", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.split, args.translations, args.work_dir, args.out)
    else:
        rate(args.recorded)


if __name__ == "__main__":
    main()
