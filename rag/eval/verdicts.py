"""Answer-quality measurement on a question set (JSON lines, see tests/data/questions.jsonl)."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.answering.answer import Answer
from rag.text import detect_language, fold


@dataclass
class Verdict:
    """How one answer fared against its question's expectations."""

    id: str
    question: str
    answerable: bool
    refused: bool
    correct: bool  # answerable: right answer; unanswerable: refused
    cited: bool  # answerable: a cited passage from the right article holds the evidence
    language_ok: bool
    answer: str
    first_token: float
    total: float
    confidence: float | None = None  # the answer's, when it has one
    sure: bool = False  # shown as sure

    @property
    def passed(self) -> bool:
        return self.correct and (self.cited or not self.answerable) and self.language_ok

    @property
    def right(self) -> bool:
        """Answered, rightly and cited (what a confidence is the probability of)."""
        return self.answerable and not self.refused and self.correct and self.cited


def load_questions(path: str | Path) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def judge(item: dict, answer: Answer) -> Verdict:
    """Score one answer: correct, cited with a supporting passage, in the question's language."""
    text = _plain(answer.text)
    if item["answerable"]:
        correct = not answer.refused and any(_plain(a) in text for a in item["answer_any"])
        # No `evidence_any` (external data sets): any passage of the gold article counts.
        cited = any(
            source.doc_id in item["doc_ids"]
            and (
                not item["evidence_any"]
                or any(_plain(e) in _plain(source.text) for e in item["evidence_any"])
            )
            for source in answer.sources
        )
    else:
        correct, cited = answer.refused, True
    plain = re.sub(r"\[\d+\]", "", answer.text)
    language_ok = answer.language == item["language"] and (
        answer.refused or detect_language(plain, fallback=answer.language) == item["language"]
    )
    return Verdict(
        id=item["id"],
        question=item["question"],
        answerable=item["answerable"],
        refused=answer.refused,
        correct=correct,
        cited=cited,
        language_ok=language_ok,
        answer=answer.text,
        first_token=answer.timings.get("first_token") or 0.0,
        total=answer.timings.get("total") or 0.0,
        confidence=answer.confidence,
        sure=answer.confidence_label == "sure",
    )


def _plain(text: str) -> str:
    """Folded (lower case, no accents), one kind of apostrophe, single spaces: for matching."""
    return " ".join(fold(text).replace("’", "'").split())


def rate(items, test) -> float:
    """The share of `items` that pass `test`, to 3 decimals (0 for none)."""
    return round(sum(1 for v in items if test(v)) / len(items), 3) if items else 0.0


def summarise(verdicts: list[Verdict]) -> dict:
    """Rates over answerable and unanswerable questions, and latency percentiles."""
    answerable = [v for v in verdicts if v.answerable]
    unanswerable = [v for v in verdicts if not v.answerable]

    return {
        "questions": len(verdicts),
        "answered_correctly": rate(answerable, lambda v: v.correct),
        "correct_and_cited": rate(answerable, lambda v: v.correct and v.cited),
        "refused_unanswerable": rate(unanswerable, lambda v: v.refused),
        "wrongly_refused": rate(answerable, lambda v: v.refused),
        "language_match": rate(verdicts, lambda v: v.language_ok),
        "first_token_median": round(percentile([v.first_token for v in verdicts], 50), 3),
        "first_token_p90": round(percentile([v.first_token for v in verdicts], 90), 3),
        "total_median": round(percentile([v.total for v in verdicts], 50), 3),
        "total_p90": round(percentile([v.total for v in verdicts], 90), 3),
        **calibration(verdicts),
    }


def calibration(verdicts: list[Verdict]) -> dict:
    """How well the confidences of the answers given say whether they are right: expected
    calibration error (10 equal bins), the share of answers shown as sure, and how often
    those are right. Empty when no answer has a confidence."""
    rated = [v for v in verdicts if not v.refused and v.confidence is not None]
    if not rated:
        return {}
    from rag.eval.confidence_training import calibration_error

    probability = np.array([v.confidence for v in rated])
    right = np.array([v.right for v in rated], dtype=float)
    sure = [v for v in rated if v.sure]
    return {
        "rated_answers": len(rated),
        "calibration_error": round(calibration_error(probability, right), 3),
        "sure_share": round(len(sure) / len(rated), 3),
        "sure_right": rate(sure, lambda v: v.right) if sure else None,
    }


@dataclass
class BroadVerdict:
    """How a broad question ("résume…", "compare…") fared: several cited, supported points."""

    id: str
    question: str
    refused: bool
    sentences: int
    cited_sentences: int  # sentences carrying at least one citation
    articles: int  # distinct articles cited
    expected_articles: int  # of those, articles the question set names
    points: int  # distinct expected key terms the answer mentions
    language_ok: bool
    answer: str
    first_token: float
    total: float

    @property
    def passed(self) -> bool:
        """Answered, every sentence cited, two articles or more, a key point made."""
        return (
            not self.refused
            and self.cited_sentences == self.sentences
            and self.articles >= 2
            and self.points >= 1
            and self.language_ok
        )


def judge_broad(item: dict, answer: Answer) -> BroadVerdict:
    """Score one answer to a broad question of `tests/data/broad.jsonl`."""
    text = _plain(answer.text)
    articles = {s.doc_id for s in answer.sources}
    plain = re.sub(r"\[\d+\]", "", answer.text)
    language_ok = answer.language == item["language"] and (
        answer.refused or detect_language(plain, fallback=answer.language) == item["language"]
    )
    return BroadVerdict(
        id=item["id"],
        question=item["question"],
        refused=answer.refused,
        sentences=len(answer.sentences),
        cited_sentences=sum(1 for s in answer.sentences if s.sources),
        articles=len(articles),
        expected_articles=len(articles & set(item["doc_ids"])),
        points=len({p for p in item["points_any"] if _plain(p) in text}),
        language_ok=language_ok,
        answer=answer.text,
        first_token=answer.timings.get("first_token") or 0.0,
        total=answer.timings.get("total") or 0.0,
    )


def summarise_broad(verdicts: list[BroadVerdict]) -> dict:
    """Shares of broad answers that pass, cite several articles, and latency percentiles."""
    count = len(verdicts) or 1
    return {
        "questions": len(verdicts),
        "passed": round(sum(v.passed for v in verdicts) / count, 3),
        "refused": round(sum(v.refused for v in verdicts) / count, 3),
        "every_sentence_cited": round(
            sum(v.cited_sentences == v.sentences for v in verdicts) / count, 3
        ),
        "articles_cited_mean": round(sum(v.articles for v in verdicts) / count, 2),
        "sentences_mean": round(sum(v.sentences for v in verdicts) / count, 2),
        "language_match": round(sum(v.language_ok for v in verdicts) / count, 3),
        "total_median": round(percentile([v.total for v in verdicts], 50), 3),
        "total_p90": round(percentile([v.total for v in verdicts], 90), 3),
    }


def percentile(values, percent: int) -> float:
    """The `percent`th percentile (inclusive method); 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def verdicts_to_json(verdicts: list[Verdict]) -> list[dict]:
    return [asdict(v) | {"passed": v.passed} for v in verdicts]
