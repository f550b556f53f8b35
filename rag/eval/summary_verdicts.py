"""Judging summaries (tests/data/broad_period.jsonl): broad and period questions.

An item names the articles a good answer draws on (`doc_ids`) and key terms it would mention
(`points_any`), as in tests/data/broad.jsonl; a question about a period also gives the
`period` it names and whether no article is dated in it (`empty`). A summary passes when
every sentence is cited and supported by the passage it cites, it cites two articles or more
when two are expected (one when the period holds one), makes one expected point, is in the
question's language, and, for a period, cites only the period's articles, newest first. A
question about an empty period passes when it is refused with the empty-period message.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from rag.answering import prompts
from rag.answering.answer import Answer
from rag.answering.periods import bounds
from rag.answering.verify import numbers_said
from rag.eval.tables import markdown_table
from rag.eval.verdicts import _plain, percentile, rate
from rag.text import bm25_tokenize, detect_language

# A sentence is supported by its passages when it shares this share of its stemmed words with
# them (said in their words), or, translated, when its e5 cosine to one of them reaches
# SUPPORT_COSINE; and when every number it states is in them.
SUPPORT_OVERLAP = 0.5
SUPPORT_COSINE = 0.8


@dataclass
class SummaryVerdict:
    id: str
    question: str
    empty: bool  # a period without articles
    refused: bool
    said_empty: bool  # refused with the empty-period message
    sentences: int
    cited_sentences: int
    supported_sentences: int
    articles: int  # distinct articles cited
    expected_articles: int  # articles a passing answer cites at least
    outside: int  # articles cited from outside the item's `doc_ids` (period items)
    newest_first: bool  # period items: the points' articles from the newest to the oldest
    points: int  # distinct expected key terms the answer mentions
    language_ok: bool
    answer: str
    first_point: float
    total: float

    @property
    def passed(self) -> bool:
        if self.empty:
            return self.said_empty
        return (
            not self.refused
            and self.sentences > 0
            and self.cited_sentences == self.sentences
            and self.supported_sentences == self.sentences
            and self.articles >= self.expected_articles
            and self.outside == 0
            and self.newest_first
            and self.points >= 1
            and self.language_ok
        )


def judge_summary(
    item: dict, answer: Answer, embedder=None, first_point: float | None = None
) -> SummaryVerdict:
    """Score one answer; `embedder` (the index's) checks translated sentences against their
    passages, `first_point` is when the first point was shown (seconds)."""
    by_number = {s.n: s for s in answer.sources}
    supported = sum(
        _supported(s.text, [by_number[n].text for n in s.sources if n in by_number], embedder)
        for s in answer.sentences
    )
    cited = {s.doc_id for s in answer.sources}
    period = item.get("period")
    order = [by_number[s.sources[0]].date for s in answer.sentences if s.sources[0] in by_number]
    days = [bounds(d)[1] if d else "" for d in order]
    plain = re.sub(r"\[\d+\]", "", answer.text)
    language_ok = answer.language == item["language"] and (
        answer.refused or detect_language(plain, fallback=answer.language) == item["language"]
    )
    opening = prompts.EMPTY_PERIOD[answer.language].split("(")[0]
    return SummaryVerdict(
        id=item["id"],
        question=item["question"],
        empty=bool(item.get("empty")),
        refused=answer.refused,
        said_empty=answer.refused and answer.text.startswith(opening),
        sentences=len(answer.sentences),
        cited_sentences=sum(1 for s in answer.sentences if s.sources),
        supported_sentences=supported,
        articles=len(cited),
        expected_articles=min(2, len(item["doc_ids"])),
        outside=len(cited - set(item["doc_ids"])) if period else 0,
        newest_first=not period or all(a >= b for a, b in zip(days, days[1:]) if a and b),
        points=len({p for p in item["points_any"] if _plain(p) in _plain(answer.text)}),
        language_ok=language_ok,
        answer=answer.text,
        first_point=first_point if first_point is not None else answer.timings["first_token"],
        total=answer.timings.get("total") or 0.0,
    )


def _supported(sentence: str, passages: list[str], embedder) -> bool:
    if not passages:
        return False
    joined = " ".join(passages)
    if not numbers_said(sentence) <= numbers_said(joined):
        return False
    words, *passage_words = (set(t) for t in bm25_tokenize([sentence, *passages], ids=False))
    said = set().union(*passage_words)
    if words and len(words & said) >= SUPPORT_OVERLAP * len(words):
        return True
    if embedder is None:
        return False
    vectors = embedder.embed_batch([sentence, *passages], is_query=False)
    return max(float(vectors[0] @ v) for v in vectors[1:]) >= SUPPORT_COSINE


def summarise_summaries(verdicts: list[SummaryVerdict]) -> dict:
    """Pass rate, its parts, and latency percentiles over the answered questions."""

    empty = [v for v in verdicts if v.empty]
    answered = [v for v in verdicts if not v.empty]
    return {
        "questions": len(verdicts),
        "passed": rate(verdicts, lambda v: v.passed),
        "empty_said": rate(empty, lambda v: v.said_empty),
        "refused": rate(answered, lambda v: v.refused),
        "every_sentence_cited": rate(answered, lambda v: v.cited_sentences == v.sentences),
        "every_sentence_supported": rate(answered, lambda v: v.supported_sentences == v.sentences),
        "enough_articles": rate(answered, lambda v: v.articles >= v.expected_articles),
        "articles_cited_mean": round(sum(v.articles for v in answered) / len(answered), 2)
        if answered
        else 0.0,
        "key_point": rate(answered, lambda v: v.points >= 1),
        "language_match": rate(verdicts, lambda v: v.language_ok),
        "first_point_median": round(percentile([v.first_point for v in answered], 50), 2),
        "first_point_p90": round(percentile([v.first_point for v in answered], 90), 2),
        "total_median": round(percentile([v.total for v in answered], 50), 2),
        "total_p90": round(percentile([v.total for v in answered], 90), 2),
        "failures": [v.id for v in verdicts if not v.passed],
    }


def summary_table(summaries: dict[str, dict]) -> str:
    """Summary-question figures, a run a row."""
    header = (
        "run",
        "passed",
        "every sentence cited / supported",
        "≥ 2 articles (when expected)",
        "empty periods said",
        "first point median / p90",
        "full answer median / p90",
    )
    rows = [
        (
            name,
            f"{s['passed']:.0%} of {s['questions']}",
            f"{s['every_sentence_cited']:.0%} / {s['every_sentence_supported']:.0%}",
            f"{s['enough_articles']:.0%}",
            f"{s['empty_said']:.0%}",
            f"{s['first_point_median']:.1f} / {s['first_point_p90']:.1f} s",
            f"{s['total_median']:.1f} / {s['total_p90']:.1f} s",
        )
        for name, s in summaries.items()
    ]
    return markdown_table(header, rows)


def summary_verdicts_to_json(verdicts: list[SummaryVerdict]) -> list[dict]:
    return [{**asdict(v), "passed": v.passed} for v in verdicts]
