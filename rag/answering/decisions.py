"""The learned decisions, applied: an evidence ranker over candidate sentences, whether to
answer at all, and how sure the answer is. Their parameters are data (`decisions.json`, written
by `rag eval train`), with the hash of the data they were fitted on and the figures they gave.

Two probabilities from the same features of the whole evidence: that the question's article is
in the index (refusing below a threshold chosen on dev), and that the answer quoting the best
candidate is right (calibrated, shown to the reader). On PIAF dev, refusing on the first
refuses more questions whose article is absent, for the same share of answerable ones, than
refusing on the second (docs/decisions/2026-12-06-learned-decisions.md).

Candidates in another language than the question (an English question over French articles)
are ranked by a second ranker, `ranker_across`, trained on PIAF's questions translated into
English (`rag eval train --translations`): across languages the shared words vanish and the
cosines run lower, so the first ranker's weights misplace them
(docs/decisions/2026-12-08-a-ranker-across-languages.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answering.features import ANSWER_FEATURES, SENTENCE_FEATURES
from rag.errors import ConfigError

PARAMETERS = Path(__file__).with_name("decisions.json")
# A factual answer quotes the ranker's best passage, and the second one too when the ranker
# gives it at least this share of the first one's probability (chosen on PIAF dev:
# docs/decisions/2026-12-06-learned-decisions.md).
SECOND_PASSAGE_SHARE = 0.5
FITTED = ("ranker", "present", "right", "calibration", "thresholds")


@dataclass(frozen=True)
class Model:
    """A small feed-forward scorer: standardised features, then dense layers (ReLU between
    them); the last layer's output is log-odds. One layer is logistic regression."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @classmethod
    def from_dict(cls, record: dict, expected: tuple[str, ...]) -> Model:
        if tuple(record["features"]) != expected:
            raise ConfigError(
                "The learned decisions were trained on other features than this code computes: "
                "retrain them with `rag eval train` (see docs/evaluation.md)."
            )
        return cls(
            tuple(record["features"]),
            np.asarray(record["mean"], dtype=np.float64),
            np.asarray(record["scale"], dtype=np.float64),
            tuple(np.asarray(w, dtype=np.float64) for w in record["weights"]),
            tuple(np.asarray(b, dtype=np.float64) for b in record["biases"]),
        )

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": _rounded(self.mean),
            "scale": _rounded(self.scale),
            "weights": [_rounded(w) for w in self.weights],
            "biases": [_rounded(b) for b in self.biases],
        }

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """One score per row of `features` (rows × len(self.features))."""
        values = (np.atleast_2d(features).astype(np.float64) - self.mean) / self.scale
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            values = values @ weight + bias
            if layer < len(self.weights) - 1:
                values = np.maximum(values, 0.0)
        return values[:, 0]


@dataclass(frozen=True)
class Decisions:
    """The ranker, the two probabilities, and their thresholds."""

    ranker: Model
    present: Model  # log-odds that the question's article is in the index
    right: Model  # log-odds that the answer quoting the best candidate is right
    calibration: tuple[float, float]  # Platt scaling of `right`'s log-odds: a, b
    answer_threshold: float  # below this probability that the article is present, refuse
    sure_threshold: float  # from this confidence, the answer is shown as sure
    record: dict
    ranker_across: Model | None = None  # for candidates in another language than the question

    def rank(self, features: np.ndarray) -> np.ndarray:
        """Log-odds that each candidate sentence answers the question; a candidate in another
        language than the question is scored by `ranker_across`, when there is one."""
        rows = np.atleast_2d(features)
        scores = self.ranker.log_odds(rows)
        across = rows[:, _SAME_LANGUAGE] == 0
        if self.ranker_across is not None and across.any():
            scores[across] = self.ranker_across.log_odds(rows[across])
        return scores

    def answerable(self, features: np.ndarray) -> float:
        """The probability that the question's article is in the index."""
        return float(_sigmoid(self.present.log_odds(features)[0]))

    def confidence(self, features: np.ndarray) -> float:
        """The probability that the answer built on the best candidate is right."""
        a, b = self.calibration
        return float(_sigmoid(a * self.right.log_odds(features)[0] + b))

    def label(self, confidence: float) -> str:
        """`sure` or `unsure`: how the reader is told."""
        return "sure" if confidence >= self.sure_threshold else "unsure"


_SAME_LANGUAGE = SENTENCE_FEATURES.index("same_language")


def _sigmoid(value):
    return 1.0 / (1.0 + np.exp(-value))


def quoted(probabilities: list[float]) -> int:
    """How many of the best passages (probabilities, best first) a factual answer quotes."""
    if len(probabilities) > 1 and probabilities[1] >= SECOND_PASSAGE_SHARE * probabilities[0]:
        return 2
    return min(len(probabilities), 1)


def save(record: dict, path: Path = PARAMETERS) -> None:
    """Write the decisions with the hash of their fitted parameters."""
    record = {**record, "parameters_sha256": parameters_digest(record)}
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def with_ranker_across(record: dict, across: dict) -> dict:
    """`record` (saved decisions) with `across` (a fitted record: `model`, `trained_on`,
    `measured`) as its ranker across languages, hashed on its own."""
    across = {**across, "parameters_sha256": parameters_digest(across, ("model",))}
    return {**record, "ranker_across": across}


@functools.cache
def load(path: Path = PARAMETERS) -> Decisions:
    """The shipped decisions (read once per process)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read the learned decisions {path} ({exc}): restore it from git, or "
            "retrain it with `rag eval train`."
        ) from exc
    return Decisions(
        ranker=Model.from_dict(record["ranker"], SENTENCE_FEATURES),
        present=Model.from_dict(record["present"], ANSWER_FEATURES),
        right=Model.from_dict(record["right"], ANSWER_FEATURES),
        calibration=tuple(record["calibration"]),
        answer_threshold=float(record["thresholds"]["answer"]),
        sure_threshold=float(record["thresholds"]["sure"]),
        record=record,
        ranker_across=(
            Model.from_dict(record["ranker_across"]["model"], SENTENCE_FEATURES)
            if "ranker_across" in record
            else None
        ),
    )


def parameters_digest(record: dict, names: tuple[str, ...] = FITTED) -> str:
    """A hash of the fitted parameters alone (the `names` entries of `record`, not the
    figures recorded beside them)."""
    fitted = {k: record[k] for k in names}
    return hashlib.sha256(json.dumps(fitted, sort_keys=True).encode()).hexdigest()


def _rounded(array: np.ndarray) -> list:
    return np.round(np.asarray(array, dtype=np.float64), 6).tolist()
