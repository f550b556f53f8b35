"""Training the confidence model (rag/answering/confidence.py) on PIAF's train split.

Each sampled training question is answered by the product's own pipeline and bundled model,
once with its article in the index and once with it filtered out of the retrieval (every
answer given then is wrong). The model's judgements of the answered questions, and whether each
answer was right, are the training rows; the refusal threshold is chosen on dev, the "sure" one
on train and dev. Dev questions asked with the paragraph holding their answer hidden are
reported, not trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from rag.answering.confidence import ACROSS_FEATURES, FEATURES
from rag.answering.periods import Filters
from rag.eval.verdicts import _plain

SEED = 0
ANSWERABLE = 250  # training questions asked with their article in the index
WITHOUT_OWN = 75  # ... and without it: the 100 : 30 mix of the dev and test samples
SURE_RIGHT = 0.9  # answers shown as sure must be right at least this often (on dev)
WRONGLY_REFUSED = 0.08  # at most this share of dev's answerable questions may be refused
ANSWER_HIDDEN = 50  # dev questions asked with their answer's paragraph hidden (reported only)
BINS = 10  # of the expected calibration error


@dataclass(frozen=True)
class WithoutArticle(Filters):
    """The filters that let every article through but one (a question's own)."""

    hidden: ClassVar[str] = "article"  # what a training record says was hidden
    excluded: str = ""

    @property
    def active(self) -> bool:
        return True

    def allows(self, document, spans=()) -> bool:
        return document.doc_id != self.excluded and super().allows(document, spans)


@dataclass(frozen=True)
class WithoutPassage(Filters):
    """The filters that hide one passage of an article (the paragraph holding a question's
    answer): the subject stays in the index, the fact is gone."""

    hidden: ClassVar[str] = "paragraph"
    doc_id: str = ""
    start: int = 0
    end: int = 0

    @property
    def active(self) -> bool:
        return True

    @property
    def hides_passages(self) -> bool:
        return True

    def allows_passage(self, doc_id: str, start: int, end: int) -> bool:
        return doc_id != self.doc_id or end <= self.start or start >= self.end


def answer_paragraph(item: dict, article, text: str) -> WithoutPassage | None:
    """The filters hiding the one paragraph of `article` that holds `item`'s answers, found
    in the indexed `text` of the article; None when another paragraph holds one of them too, or
    the paragraph is not found as is."""
    answers = [_plain(a) for a in item["answer_any"]]  # matched as `verdicts.judge` does
    holding = [p for p in article.paragraphs if any(a in _plain(p) for a in answers)]
    if len(holding) != 1 or (start := text.find(holding[0])) < 0:
        return None
    end = start + len(holding[0])
    rest = _plain(text[:start] + text[end:])
    if any(a in rest for a in answers):
        return None
    return WithoutPassage(doc_id=item["doc_ids"][0], start=start, end=end)


class Recorder:
    """Stands in for the confidence model while collecting: keeps the rows it is asked about,
    and lets every answer through. `across`: it stands in for the model across languages
    (questions in another language than their passages then have two passages judged)."""

    answer = 0.0

    def __init__(self, across: bool = False) -> None:
        self.rows: list[dict[str, float]] = []
        self.across = self if across else None

    def probability(self, known: dict[str, float]) -> float:
        self.rows.append({name: float(value) for name, value in known.items()})
        return 0.5

    def label(self, probability: float) -> str:
        return "unsure"

    def fits(self, model_name: str) -> bool:
        return True

    def rating(self, known: dict[str, float]) -> Recorder:
        return self


def sample(items: list[dict], seed: int = SEED) -> list[tuple[dict, Filters | None]]:
    """The training questions, each with the filters it is asked with: none, or its own
    article left out."""
    answerable = [i for i in items if i["answerable"]]
    rng = random.Random(seed)
    chosen = rng.sample(answerable, min(ANSWERABLE + WITHOUT_OWN, len(answerable)))
    return [(i, None) for i in chosen[:ANSWERABLE]] + [
        (i, WithoutArticle(excluded=i["doc_ids"][0])) for i in chosen[ANSWERABLE:]
    ]


def without_answers(
    items: list[dict], articles: dict, texts: dict[str, str], count: int, seed: int = SEED
) -> list[tuple[dict, WithoutPassage]]:
    """`count` questions of `items` (answerable, drawn with `seed`) each asked with the
    paragraph holding its answer hidden (`answer_paragraph`; questions whose paragraph cannot
    be hidden are passed over). `articles` and `texts` are by doc_id: the dataset's article
    and its indexed text."""
    answerable = [i for i in items if i["answerable"]]
    asked = []
    for item in random.Random(seed).sample(answerable, len(answerable)):
        doc_id = item["doc_ids"][0]
        filters = answer_paragraph(item, articles[doc_id], texts[doc_id])
        if filters is not None:
            asked.append((item, filters))
        if len(asked) == count:
            break
    return asked


def collect(
    retriever,
    llm,
    settings,
    asked: list[tuple[dict, Filters | None]],
    progress=None,
    across: bool = False,
) -> list[dict]:
    """One record per question asked with its filters: the features the pipeline rated (None
    when it gave no confidence: refused, or nothing judged), whether it answered, whether
    rightly, and what was hidden from it ("article", "paragraph" or None). `across`: for the
    model across languages (see `Recorder`)."""
    from rag.answering.answer import AnswerPipeline
    from rag.eval.verdicts import judge

    recorder = Recorder(across)
    pipeline = AnswerPipeline(retriever, llm, settings, confidence=recorder)
    records = []
    for item, filters in asked:
        recorder.rows.clear()
        answer = pipeline.ask(item["question"], filters=filters)
        verdict = judge(item, answer)
        hidden = getattr(filters, "hidden", None)
        answerable = item["answerable"] and hidden is None
        records.append(
            {
                "id": item["id"],
                "answerable": answerable,
                "hidden": hidden,
                "refused": answer.refused,
                "right": answerable and verdict.correct and verdict.cited,
                "features": recorder.rows[-1] if recorder.rows else None,
            }
        )
        if progress:
            progress(1)
    return records


def rated(records: list[dict]) -> list[dict]:
    """The answers given with a confidence (what the model learns and is measured on)."""
    return [r for r in records if r["features"] is not None and not r["refused"]]


def digest(records: list[dict]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def matrix(records: list[dict], names=FEATURES) -> np.ndarray:
    """The `names` features of the rated answers, one row each."""
    given = rated(records)
    return np.array([[r["features"][n] for n in names] for r in given], dtype=np.float64)


def fit(records: list[dict], names=FEATURES):
    """A logistic regression (`decisions.Model`) of P(right) on the `names` features."""
    from rag.eval.training import fit_model

    labels = np.array([r["right"] for r in rated(records)], dtype=int)
    return fit_model(matrix(records, names), labels, names)


def probabilities(model, records: list[dict]) -> np.ndarray:
    if not rated(records):
        return np.zeros(0)
    return 1.0 / (1.0 + np.exp(-model.log_odds(matrix(records, model.features))))


def choose_sure(model, dev: list[dict]) -> float:
    """The lowest probability from which dev's answers are right at least SURE_RIGHT of the
    time (1.0 when none is)."""
    given = rated(dev)
    pairs = sorted(zip(probabilities(model, dev), (r["right"] for r in given)), reverse=True)
    sure, right = 1.0, 0
    for count, (probability, is_right) in enumerate(pairs, start=1):
        right += is_right
        if right / count >= SURE_RIGHT:
            sure = float(probability)
    return sure


def decided(model, records: list[dict], answer: float) -> dict:
    """What refusing below `answer` gives: correct + cited over the answerable questions,
    refused over the questions whose article is absent, wrongly refused."""
    given = {id(r): p for r, p in zip(rated(records), probabilities(model, records))}
    answerable = [r for r in records if r["answerable"]]
    absent = [r for r in records if not r["answerable"]]

    def answered(r: dict) -> bool:
        return id(r) in given and given[id(r)] >= answer

    def share(items, test) -> float:
        return round(sum(map(test, items)) / len(items), 3) if items else 0.0

    return {
        "correct_and_cited": share(answerable, lambda r: answered(r) and r["right"]),
        "refused_unanswerable": share(absent, lambda r: not answered(r)),
        "wrongly_refused": share(answerable, lambda r: not answered(r)),
    }


def choose_answer(model, dev: list[dict]) -> float:
    """The refusal threshold: the one that refuses most of dev's questions whose article is
    absent while refusing at most WRONGLY_REFUSED of its answerable ones (the lowest such)."""
    candidates = sorted({0.0, *(float(p) for p in probabilities(model, dev))})
    best, best_refused = 0.0, -1.0
    for threshold in candidates:
        figures = decided(model, dev, threshold)
        if figures["wrongly_refused"] > WRONGLY_REFUSED:
            break
        if figures["refused_unanswerable"] > best_refused:
            best, best_refused = threshold, figures["refused_unanswerable"]
    return best


def answer_hidden(model, records: list[dict], answer: float, sure: float) -> dict:
    """How questions whose answer is not in the index fare: refused, shown as sure."""
    given = probabilities(model, records)
    return {
        "refused": decided(model, records, answer)["refused_unanswerable"],
        "shown_sure": round(float((given >= sure).sum() / len(records)), 3),
    }


def measured(model, records: list[dict], sure: float) -> dict:
    """Calibration of the answers given: expected calibration error, the share shown as sure
    and how often those are right, the Brier score."""
    given = rated(records)
    p = probabilities(model, records)
    right = np.array([r["right"] for r in given], dtype=float)
    shown_sure = p >= sure
    return {
        "answers": len(given),
        "right": round(float(right.mean()), 3) if len(given) else 0.0,
        "calibration_error": round(calibration_error(p, right), 3),
        "brier": round(float(((p - right) ** 2).mean()), 3) if len(given) else 0.0,
        "sure_share": round(float(shown_sure.mean()), 3) if len(given) else 0.0,
        "sure_right": round(float(right[shown_sure].mean()), 3) if shown_sure.any() else None,
    }


def calibration_error(probability: np.ndarray, right: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: |mean probability − right rate| per equal-width bin,
    weighted by the bin's share of answers."""
    if not len(probability):
        return 0.0
    which = np.minimum((probability * bins).astype(int), bins - 1)
    return float(
        sum(
            abs(probability[which == b].mean() - right[which == b].mean()) * (which == b).mean()
            for b in range(bins)
            if (which == b).any()
        )
    )


def train_confidence(
    dataset, settings, embedder, llm, work_dir, progress=None, translations=None
) -> dict:
    """Everything `rag eval train-confidence` does: answer the train sample (with and without
    each question's article) and dev's sample, fit on train, choose the thresholds on dev, and
    return the record to save (with the data's hash and the dev figures) and the records.
    With `translations` (see `squad_answers.translated`), the questions of both samples that it
    translates are asked in its language instead: the model across languages."""
    import dataclasses

    from rag.eval.squad_answers import prepare

    settings = dataclasses.replace(settings, factual_answers="judged")
    split, retriever = prepare(dataset, settings, embedder, work_dir, progress=False)
    asked = sample(split.all_questions("train"))
    dev_asked = [(i, None) for i in split.questions["dev"]]
    if translations is not None:
        asked = in_translation(asked, translations)
        dev_asked = in_translation(dev_asked, translations)
    across = translations is not None
    train = collect(retriever, llm, settings, asked, progress, across)
    dev = collect(retriever, llm, settings, dev_asked, progress, across)
    hidden = []
    if translations is None:
        texts = {doc_id: d.text for doc_id, d in retriever.index.documents.items()}
        articles = {a.doc_id: a for a in split.articles["dev"]}
        paragraphs = without_answers(
            split.all_questions("dev"), articles, texts, ANSWER_HIDDEN, SEED + 1
        )
        hidden = collect(retriever, llm, settings, paragraphs, progress)
    record = fitted(train, dev, hidden, ACROSS_FEATURES if across else FEATURES)
    record["trained_on"].update(
        {"dataset": Path(dataset).name, "judge": llm.name, "embedder": embedder.id}
    )
    if translations is not None:
        record["trained_on"]["translations"] = Path(translations).name
        record["trained_on"]["cross_language_answers"] = settings.cross_language_answers
    return {**record, "records": {"train": train, "dev": dev, "dev_answer_hidden": hidden}}


def in_translation(asked: list[tuple[dict, Filters | None]], path) -> list:
    """The questions of `asked` that the translations file `path` translates, in its
    language, each with its filters."""
    from rag.eval.squad_answers import translated

    by_id = {i["id"]: i for i in translated([item for item, _ in asked], path)}
    return [(by_id[item["id"]], filters) for item, filters in asked if item["id"] in by_id]


def fitted(
    train: list[dict], dev: list[dict], hidden: list[dict] = (), names: tuple = FEATURES
) -> dict:
    """The model of the `names` features fitted on `train` records, its thresholds chosen on
    `dev`'s, and what it gives on both, and on the `hidden` records (dev questions asked with
    the paragraph holding their answer hidden: the subject is in the index, the fact is not)."""
    import platform

    import sklearn

    model = fit(train, names)
    # Sure only where both splits keep the promise: dev alone is too few answers to choose it
    # (docs/decisions/2026-12-06-quoted-neighbour.md).
    sure = max(choose_sure(model, train), choose_sure(model, dev))
    answer = choose_answer(model, dev)
    measured_on = {
        name: {**decided(model, records, answer), **measured(model, records, sure)}
        for name, records in (("train", train), ("dev", dev))
    }
    if hidden:
        measured_on["dev_answer_hidden"] = {
            "questions": len(hidden),
            **answer_hidden(model, hidden, answer, sure),
        }
    return {
        "model": model.to_dict(),
        "thresholds": {"answer": round(answer, 6), "sure": round(sure, 6)},
        "trained_on": {
            "data_sha256": digest(train),
            "questions": len(train),
            "answers_rated": len(rated(train)),
            "seed": SEED,
            "libraries": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scikit-learn": sklearn.__version__,
            },
        },
        "measured": measured_on,
    }
