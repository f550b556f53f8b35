"""Judging time questions (tests/data/time_questions.jsonl): the period, the article, the
empty periods.

An item is a seed-set item (see `rag.eval.verdicts`) with `period`, the period the question
names (`{"since", "until"}` or `{"recent": true}`), and `empty`, whether no article is dated
in it. It passes when the answer used that period and, if the period is empty, said so
(without answering from other dates), else answered correctly, citing the right article.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rag.answering import prompts
from rag.answering.answer import Answer
from rag.eval.tables import markdown_table
from rag.eval.verdicts import judge, rate


@dataclass
class TimeVerdict:
    id: str
    question: str
    period_ok: bool  # the answer's period is the expected one
    empty: bool  # the item's period holds no article
    said_empty: bool  # the answer says there is no article in the period
    answered: bool  # not empty: correct, cited from the right article, right language
    answer: str
    period: dict | None
    total: float

    @property
    def passed(self) -> bool:
        if self.empty:
            return self.period_ok and self.said_empty
        return self.period_ok and self.answered and not self.said_empty


def judge_time(item: dict, answer: Answer) -> TimeVerdict:
    expected = item["period"]
    got = answer.period or {}
    if expected.get("recent"):
        period_ok = bool(got.get("recent")) and not (got.get("since") or got.get("until"))
    else:
        period_ok = (got.get("since"), got.get("until")) == (expected["since"], expected["until"])
    opening = prompts.EMPTY_PERIOD[answer.language].split("(")[0]
    said_empty = answer.refused and answer.text.startswith(opening)
    return TimeVerdict(
        id=item["id"],
        question=item["question"],
        period_ok=period_ok,
        empty=item["empty"],
        said_empty=said_empty,
        answered=not item["empty"] and judge(item, answer).passed,
        answer=answer.text,
        period=answer.period,
        total=answer.timings.get("total") or 0.0,
    )


def summarise_time(verdicts: list[TimeVerdict]) -> dict:
    empty = [v for v in verdicts if v.empty]
    dated = [v for v in verdicts if not v.empty]
    return {
        "questions": len(verdicts),
        "passed": rate(verdicts, lambda v: v.passed),
        "period_ok": rate(verdicts, lambda v: v.period_ok),
        "empty_said": rate(empty, lambda v: v.said_empty),
        "answered_and_cited": rate(dated, lambda v: v.answered),
        "failures": [v.id for v in verdicts if not v.passed],
    }


def time_table(summaries: dict[str, dict]) -> str:
    """Time-question summaries by backend, a backend a row."""
    header = ("backend", "passed", "period read", "empty periods said", "answered + cited")
    rows = [
        (
            name,
            f"{s['passed']:.0%} of {s['questions']}",
            f"{s['period_ok']:.0%}",
            f"{s['empty_said']:.0%}",
            f"{s['answered_and_cited']:.0%}",
        )
        for name, s in summaries.items()
    ]
    return markdown_table(header, rows)


def time_verdicts_to_json(verdicts: list[TimeVerdict]) -> list[dict]:
    return [{**asdict(v), "passed": v.passed} for v in verdicts]
