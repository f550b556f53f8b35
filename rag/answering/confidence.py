"""How sure a factual answer is: the probability that it is right, from what the answering model
judged of its best passages and how close they are to the question. A logistic regression
trained on PIAF's train split (`rag eval train-confidence`, rag/eval/confidence_training.py);
its parameters are data (`confidence.json`), with the hash of the data they were fitted on and
the figures they gave on dev and test.

Its features read the question with the passage, not word rarity in the index, so that they
mean the same in a corpus of five articles as in one of two hundred.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answering.decisions import Model, parameters_digest
from rag.errors import ConfigError

PARAMETERS = Path(__file__).with_name("confidence.json")
FEATURES = (
    "judged_best",  # the model's log-odds that the best judged passage answers the question
    "judged_margin",  # ... minus the other judged passage's (NO_RIVAL when there is one)
    "best_cosine",  # e5 cosine between the question and the closest evidence sentence
)
NO_RIVAL = 10.0
FITTED = ("model", "thresholds")


def measures(odds: list[float], evidence: list, asked_in: str) -> dict[str, float]:
    """What is known of a question's judged passages (`evidence`, best first by the ranker;
    `odds` judges its first ones): FEATURES and a few more, for training to choose from."""
    judged = sorted(zip(odds, evidence), key=lambda pair: -pair[0])
    best, chosen = judged[0]
    return {
        "judged_best": best,
        "judged_margin": best - judged[1][0] if len(judged) > 1 else NO_RIVAL,
        "best_cosine": max(e.score for e in evidence),
        "chosen_cosine": chosen.score,
        "chosen_ranked": chosen.ranked,
        "top_ranked": evidence[0].ranked,
        "same_language": float(chosen.language == asked_in),
    }


def features(known: dict[str, float]) -> np.ndarray:
    """One row of FEATURES."""
    return np.array([[known[name] for name in FEATURES]], dtype=np.float64)


@dataclass(frozen=True)
class Confidence:
    """The calibrated probability that an answer is right, and how the reader is told."""

    model: Model
    sure: float  # from this probability, the answer is shown as sure
    record: dict

    def probability(self, known: dict[str, float]) -> float:
        """The probability that the answer is right, from `measures` of its judgements."""
        return float(1.0 / (1.0 + np.exp(-self.model.log_odds(features(known))[0])))

    def label(self, probability: float) -> str:
        return "sure" if probability >= self.sure else "unsure"


def save(record: dict, path: Path = PARAMETERS) -> None:
    """Write the record with the hash of its fitted parameters."""
    record = {**record, "parameters_sha256": parameters_digest(record, FITTED)}
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


@functools.cache
def load(path: Path = PARAMETERS) -> Confidence:
    """The shipped confidence model (read once per process)."""
    try:
        record = json.loads(Path(path).read_text())
        return Confidence(
            model=Model.from_dict(record["model"], FEATURES),
            sure=float(record["thresholds"]["sure"]),
            record=record,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"Cannot read the confidence model {path} ({exc}): restore it from git, or "
            "retrain it with `rag eval train-confidence`."
        ) from exc
