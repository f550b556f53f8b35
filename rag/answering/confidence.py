"""Whether to answer a factual question, and how sure the answer is: the probability that the
answer is right, from what the answering model judged of the ranker's best passage (the one the
answer quotes), how close the evidence is to the question, and what the learned ranker gave its
best passages. A logistic regression trained on PIAF's train split (`rag eval
train-confidence`, rag/eval/confidence_training.py); below one threshold the question is
refused, from another the answer is shown as sure (both chosen on dev). Its parameters are data
(`confidence.json`), with the hash of the data they were fitted on and the figures they gave on
dev (docs/decisions/2026-12-07-ranker-answers-judge-rates.md).

A question judged against passages in another language (an English question over French
articles) is rated by a second model, `across`, of the two best passages judged, trained on
PIAF's questions translated into English (`rag eval train-confidence --translations`): across
languages the model's judgements run higher and the cosines and the ranker's scores lower, so
one scale would refuse right answers (docs/decisions/2026-12-07-confidence-across-languages.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answering.decisions import Model, parameters_digest
from rag.errors import ConfigError

PARAMETERS = Path(__file__).with_name("confidence.json")
SHIPPED_FOR_OTHERS = PARAMETERS.parent  # confidence/: the models shipped for other bundled LLMs
FEATURES = (  # of the model for passages in the question's language (one judged)
    "judged_best",  # the model's log-odds that the ranker's best passage answers the question
    "best_cosine",  # e5 cosine between the question and the closest evidence sentence
    "top_ranked",  # the learned ranker's log-odds for its best passage
    "ranked_margin",  # ... minus its log-odds for the next passage (NO_RIVAL when none)
)
ACROSS_FEATURES = (  # of the model across languages (two judged: it was trained so)
    "judged_best",  # the model's log-odds that the best judged passage answers the question
    "judged_margin",  # ... minus the other judged passage's (NO_RIVAL when there is none)
    "best_cosine",
    "chosen_ranked",  # the learned ranker's log-odds for the best judged passage
    "top_ranked",
)
JUDGED = 1  # passages judged for a question in its passages' language
ACROSS_JUDGED = 2  # ... in another language (what `across` was trained on)
NO_RIVAL = 10.0
FITTED = ("model", "thresholds")


def measures(odds: list[float], evidence: list, asked_in: str) -> dict[str, float]:
    """What is known of a question's judged passages (`evidence`, best first by the ranker;
    `odds` judges its first ones): the features of both models, and a few more for training
    to choose from."""
    judged = sorted(zip(odds, evidence), key=lambda pair: -pair[0])
    best, chosen = judged[0]
    ranked = [e.ranked for e in evidence]
    return {
        "judged_best": best,
        "judged_margin": best - judged[1][0] if len(judged) > 1 else NO_RIVAL,
        "best_cosine": max(e.score for e in evidence),
        "chosen_cosine": chosen.score,
        "chosen_ranked": chosen.ranked,
        "top_ranked": ranked[0],
        "ranked_margin": ranked[0] - ranked[1] if len(ranked) > 1 else NO_RIVAL,
        "same_language": float(chosen.language == asked_in),
    }


def features(known: dict[str, float], names: tuple[str, ...] = FEATURES) -> np.ndarray:
    """One row of the `names` features."""
    return np.array([[known[name] for name in names]], dtype=np.float64)


def judged_count(evidence: list, asked_in: str, across: bool) -> int:
    """How many of the best passages the model judges: the rating model's inputs. Across
    languages (the ranker's best passage in another language than the question, as
    `same_language` reads it) when there is a model `across`, ACROSS_JUDGED; else JUDGED."""
    if across and evidence and evidence[0].language != asked_in:
        return ACROSS_JUDGED
    return JUDGED


@dataclass(frozen=True)
class Confidence:
    """The calibrated probability that an answer is right, and how the reader is told."""

    model: Model
    answer: float  # below this probability, the question is refused
    sure: float  # from this probability, the answer is shown as sure
    record: dict
    across: Confidence | None = None  # for passages in another language than the question

    def rating(self, known: dict[str, float]) -> Confidence:
        """The model that rates an answer with these `measures`: `across` when its chosen
        passage is in another language than the question, and there is one."""
        if self.across is not None and not known.get("same_language", 1.0):
            return self.across
        return self

    def probability(self, known: dict[str, float]) -> float:
        """The probability that the answer is right, from `measures` of its judgements."""
        row = features(known, self.model.features)
        return float(1.0 / (1.0 + np.exp(-self.model.log_odds(row)[0])))

    def label(self, probability: float) -> str:
        return "sure" if probability >= self.sure else "unsure"

    def fits(self, model_name: str) -> bool:
        """Whether the judgements of `model_name` are the ones this was trained on (another
        model's log-odds mean something else)."""
        judge = self.record.get("trained_on", {}).get("judge")
        return judge is None or judge == model_name


def save(record: dict, path: Path = PARAMETERS) -> None:
    """Write the record with the hash of its fitted parameters."""
    record = {**record, "parameters_sha256": parameters_digest(record, FITTED)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def with_across(record: dict, across: dict) -> dict:
    """`record` (a saved model) with `across` (a fitted record) as its model across
    languages, hashed on its own."""
    across = {**across, "parameters_sha256": parameters_digest(across, FITTED)}
    return {**record, "across": across}


def _confidence(record: dict, names: tuple[str, ...] = FEATURES) -> Confidence:
    return Confidence(
        model=Model.from_dict(record["model"], names),
        answer=float(record["thresholds"]["answer"]),
        sure=float(record["thresholds"]["sure"]),
        record=record,
        across=_confidence(record["across"], ACROSS_FEATURES) if "across" in record else None,
    )


def trained_path(model_name: str, cache_dir: Path) -> Path:
    """Where `rag eval train-confidence` keeps a confidence trained on the judgements of a
    backend other than the one the shipped model was trained on (under the model cache)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")[:80]
    digest = hashlib.sha256(model_name.encode()).hexdigest()[:10]
    return Path(cache_dir) / "confidence" / f"{readable}-{digest}.json"


def for_model(model_name: str, cache_dir: Path) -> Confidence | None:
    """The confidence trained on `model_name`'s judgements: the shipped one, else one shipped
    for that backend (`trained_path` under SHIPPED_FOR_OTHERS), else one trained here (under
    `cache_dir`); None when there is none (its answers are then refused by the cosine gate and
    carry no confidence)."""
    shipped = load()
    if shipped.fits(model_name):
        return shipped
    for folder in (SHIPPED_FOR_OTHERS, cache_dir):
        path = trained_path(model_name, folder)
        if path.is_file() and (trained := load(path)).fits(model_name):
            return trained
    return None


@functools.cache
def load(path: Path = PARAMETERS) -> Confidence:
    """The shipped confidence model (read once per process)."""
    try:
        return _confidence(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"Cannot read the confidence model {path} ({exc}): restore it from git, or "
            "retrain it with `rag eval train-confidence`."
        ) from exc
