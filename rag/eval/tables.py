"""The Markdown tables of `rag eval` and scripts/: one renderer, and the answer figures' cells."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rag.eval.benchmarks import Dataset, RetrievalScores

# An answer summary's measures (see `rag.eval.verdicts.summarise`), named as in `rag eval answers`.
ANSWER_MEASURES = {
    "correct": "correct (answerable)",
    "correct_and_cited": "correct and cited (answerable)",
    "refused_unanswerable": "refused (unanswerable)",
    "wrongly_refused": "wrongly refused (answerable)",
    "language_match": "answer language = question language",
    "first_token": "first token median / p90",
    "total": "full answer median / p90",
}
# One row per backend (scripts/bench.py and bench_baseline.py): these measures, these headings.
BACKEND_COLUMNS = {
    "correct_and_cited": "correct + cited",
    "refused_unanswerable": "refused (unanswerable)",
    "wrongly_refused": "wrongly refused",
    "language_match": "language",
    "first_token": "first token median / p90",
    "total": "full answer median / p90",
}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A header row, its rule, then one row per sequence of cells."""
    lines = [_row(header), "|" + "---|" * len(header)]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def answer_cells(summary: dict, compact: bool = False) -> dict[str, str]:
    """An answer summary's figures as cells, keyed as `ANSWER_MEASURES`.

    `compact` writes timings as "0.50 / 1.20 s" instead of "0.50 s / 1.20 s".
    """
    unit = "" if compact else " s"
    return {
        "correct": f"{summary['answered_correctly']:.0%}",
        "correct_and_cited": f"{summary['correct_and_cited']:.0%}",
        "refused_unanswerable": f"{summary['refused_unanswerable']:.0%}",
        "wrongly_refused": f"{summary['wrongly_refused']:.0%}",
        "language_match": f"{summary['language_match']:.0%}",
        "first_token": f"{summary['first_token_median']:.2f}{unit} / "
        f"{summary['first_token_p90']:.2f} s",
        "total": f"{summary['total_median']:.2f}{unit} / {summary['total_p90']:.2f} s",
    }


def answers_table(name: str, summary: dict) -> str:
    """One run's answer summary, a measure a row (`rag eval answers`), with the calibration
    of its confidences when its answers have one."""
    cells = answer_cells(summary)
    rows = [(label, cells[measure]) for measure, label in ANSWER_MEASURES.items()]
    if "calibration_error" in summary:
        sure_right = summary["sure_right"]
        rows += [
            ("expected calibration error (answers given)", f"{summary['calibration_error']:.3f}"),
            ("answers shown as sure", f"{summary['sure_share']:.0%}"),
            ("… of which right", "–" if sure_right is None else f"{sure_right:.0%}"),
        ]
    table = markdown_table(("measure", "value"), rows)
    return f"{name}: {summary['questions']} questions\n\n{table}"


def backends_table(summaries: dict[str, dict]) -> str:
    """Answer summaries by backend, a backend a row (scripts/bench.py, bench_baseline.py)."""
    rows = []
    for name, summary in summaries.items():
        cells = answer_cells(summary)
        rows.append([name, *(cells[measure] for measure in BACKEND_COLUMNS)])
    return markdown_table(("backend", *BACKEND_COLUMNS.values()), rows)


def retrieval_table(dataset: Dataset, results: Sequence[RetrievalScores]) -> str:
    """Retrieval scores, a method a row (`rag eval retrieval`)."""
    header = ("method", "R@1", "R@5", "R@10", "MRR@10", "index s", "query ms median / p90")
    rows = [
        (
            r.method,
            f"{r.recall[1]:.3f}",
            f"{r.recall[5]:.3f}",
            f"{r.recall[10]:.3f}",
            f"{r.mrr:.3f}",
            f"{r.index_seconds:.1f}",
            f"{r.query_ms_median:.1f} / {r.query_ms_p90:.1f}",
        )
        for r in results
    ]
    size = f"{len(dataset.documents)} paragraphs, {len(dataset.questions)} questions"
    return f"{dataset.name}: {size}\n\n{markdown_table(header, rows)}"
