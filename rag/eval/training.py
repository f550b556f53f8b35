"""Training data for the learned decisions, from a SQuAD-format dataset split by article.

For every question of a split: the candidate sentences retrieval finds (their features, and
whether each holds a gold answer in the gold article), as the product computes them. Training
questions are asked a second time with their own article filtered out *inside* the retriever,
before the dense, sentence and BM25 rankings are fused: that is what a question whose article is
absent looks like, and these copies teach the answer-or-refuse decision to refuse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answering.features import SENTENCE_FEATURES, Scorer
from rag.eval.confidence_training import WithoutArticle
from rag.text import bm25_tokenize, fold


@dataclass
class Examples:
    """Candidate rows of many questions: features, labels, and which question each row is of."""

    features: np.ndarray  # (rows, len(SENTENCE_FEATURES))
    labels: np.ndarray  # 1 when the candidate holds a gold answer in the gold article
    question: np.ndarray  # the question's number, per row
    documents: np.ndarray  # the candidate's article, per row
    shown_labels: np.ndarray  # the same, judged on the span shown (the sentence and context)
    items: list[dict]  # per question: id, answerable, doc_ids, the held-out copy or not

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            features=self.features,
            labels=self.labels,
            question=self.question,
            documents=self.documents,
            shown_labels=self.shown_labels,
            items=np.array(json.dumps(self.items, ensure_ascii=False)),
        )

    @classmethod
    def load(cls, path: Path) -> Examples:
        data = np.load(path)
        return cls(
            data["features"],
            data["labels"],
            data["question"],
            data["documents"],
            data["shown_labels"],
            json.loads(str(data["items"])),
        )

    def digest(self) -> str:
        """A hash of the data (features, labels, questions), recorded beside trained models."""
        sha = hashlib.sha256()
        for array in (self.features, self.labels, self.question):
            sha.update(np.ascontiguousarray(array).tobytes())
        sha.update(json.dumps(self.items, sort_keys=True).encode())
        return sha.hexdigest()


def collect(retriever, items: list[dict], top_k: int, without_own: bool = False, progress=None):
    """Examples for `items` (question-set records), retrieved as `retriever` retrieves;
    `without_own` asks each question with its own article filtered out."""
    scorer = Scorer(retriever.index)
    questions = [item["question"] for item in items]
    vectors = retriever.embedder.embed_batch(questions, is_query=True)
    rows, labels, shown, owner, articles, kept = [], [], [], [], [], []
    documents = retriever.index.documents
    for number, (item, vector) in enumerate(zip(items, vectors)):
        filters = WithoutArticle(excluded=item["doc_ids"][0]) if without_own else None
        hits = retriever.search(item["question"], top_k, query_vector=vector, filters=filters)
        candidates = retriever.candidates(hits)
        record = {
            "id": item["id"],
            "answerable": item["answerable"] and not without_own,
            "doc_ids": item["doc_ids"],
            "without_own": without_own,
            "question_terms": len(set(bm25_tokenize([item["question"]], ids=False)[0])),
        }
        kept.append(record)
        if progress:
            progress(1)
        if not candidates:
            continue
        language = item.get("language", "fr")
        features = scorer.sentence_features(item["question"], language, vector, hits, candidates)
        answers = [fold(a) for a in item["answer_any"]] if record["answerable"] else []
        for candidate, row in zip(candidates, features):
            text = documents[candidate.doc_id].text
            gold = candidate.doc_id in item["doc_ids"]
            sentence = fold(text[candidate.start : candidate.end])
            shown_text = fold(text[candidate.shown_start : candidate.shown_end])
            rows.append(row)
            labels.append(gold and any(a in sentence for a in answers))
            shown.append(gold and any(a in shown_text for a in answers))
            owner.append(len(kept) - 1)
            articles.append(candidate.doc_id)
    return Examples(
        np.asarray(rows, dtype=np.float32).reshape(-1, len(SENTENCE_FEATURES)),
        np.asarray(labels, dtype=np.int8),
        np.asarray(owner, dtype=np.int32),
        np.asarray(articles),
        np.asarray(shown, dtype=np.int8),
        kept,
    )


# --- fitting ----------------------------------------------------------------------------------

SEED = 0
FOLDS = 5  # cross-fitting: the answer model learns from ranker scores of unseen articles
HELD_OUT_WEIGHT = 0.3  # questions without their article, against answerable ones (as in dev/test)


def fit_model(features: np.ndarray, labels: np.ndarray, names, hidden: int = 0, weights=None):
    """A `decisions.Model` fitted with scikit-learn: logistic regression, or a one-hidden-layer
    network of `hidden` units; deterministic (fixed seed)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from rag.answering.decisions import Model

    scaler = StandardScaler().fit(features)
    scaled = scaler.transform(features)
    if hidden:
        network = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            alpha=1e-3,
            max_iter=300,
            early_stopping=True,
            random_state=SEED,
        )
        network.fit(scaled, labels)  # MLPClassifier takes no sample weights
        layers = (network.coefs_, network.intercepts_)
    else:
        regression = LogisticRegression(C=1.0, max_iter=5000)
        regression.fit(scaled, labels, sample_weight=weights)
        layers = ([regression.coef_.T], [regression.intercept_])
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return Model(tuple(names), scaler.mean_, scale, tuple(layers[0]), tuple(layers[1]))


def question_rows(examples: Examples) -> dict[int, np.ndarray]:
    """The candidate rows of each question."""
    order = np.argsort(examples.question, kind="stable")
    numbers, starts = np.unique(examples.question[order], return_index=True)
    groups = np.split(order, starts[1:])
    return {int(n): rows for n, rows in zip(numbers, groups)}


def answer_examples(examples: Examples, scores: np.ndarray):
    """Per question with candidates: ANSWER_FEATURES, whether the best candidate's shown span
    is right (gold answer, gold article), and the question's number."""
    from rag.answering.decisions import quoted
    from rag.answering.features import answer_features

    rows_of = question_rows(examples)
    features, right, numbers = [], [], []
    for number, rows in rows_of.items():
        item = examples.items[number]
        features.append(
            answer_features(
                examples.features[rows],
                scores[rows],
                list(examples.documents[rows]),
                item["question_terms"],
            )
        )
        ranked = rows[np.argsort(-scores[rows], kind="stable")]
        shown = ranked[: quoted(list(1.0 / (1.0 + np.exp(-scores[ranked[:2]]))))]
        right.append(int(examples.shown_labels[shown].max()))
        numbers.append(number)
    return np.asarray(features), np.asarray(right), np.asarray(numbers)


def cross_fitted_scores(examples: Examples, without: Examples) -> tuple[np.ndarray, np.ndarray]:
    """Ranker scores of every training row from a ranker that never saw the row's article:
    the answer model then learns from scores as they are on new articles."""
    from sklearn.model_selection import GroupKFold

    from rag.answering.features import SENTENCE_FEATURES

    article = np.array([examples.items[q]["doc_ids"][0] for q in examples.question])
    article_without = np.array([without.items[q]["doc_ids"][0] for q in without.question])
    scores = np.zeros(len(examples.labels))
    scores_without = np.zeros(len(without.labels))
    for fit_rows, held_rows in GroupKFold(n_splits=FOLDS).split(examples.features, groups=article):
        ranker = fit_model(
            examples.features[fit_rows], examples.labels[fit_rows], SENTENCE_FEATURES
        )
        scores[held_rows] = ranker.log_odds(examples.features[held_rows])
        held = np.isin(article_without, np.unique(article[held_rows]))
        scores_without[held] = ranker.log_odds(without.features[held])
    return scores, scores_without


def train(examples: Examples, without: Examples) -> dict:
    """Fit the ranker and the calibrated answer model on training examples (`without`: the
    same questions asked with their article filtered out). Thresholds are set afterwards, on
    dev (see `choose_thresholds`)."""
    from sklearn.linear_model import LogisticRegression

    from rag.answering.features import ANSWER_FEATURES, SENTENCE_FEATURES

    ranker = fit_model(examples.features, examples.labels, SENTENCE_FEATURES)
    scores, scores_without = cross_fitted_scores(examples, without)
    features, right, _ = answer_examples(examples, scores)
    features_without, _, _ = answer_examples(without, scores_without)
    all_features = np.vstack([features, features_without])
    present = np.concatenate([np.ones(len(features)), np.zeros(len(features_without))])
    labels = np.concatenate([right, np.zeros(len(features_without), dtype=int)])
    weights = np.concatenate(
        [np.ones(len(features)), np.full(len(features_without), HELD_OUT_WEIGHT)]
    )
    present_model = fit_model(all_features, present, ANSWER_FEATURES)
    right_model = fit_model(all_features, labels, ANSWER_FEATURES, weights=weights)
    platt = LogisticRegression(C=1e6, max_iter=1000)
    platt.fit(right_model.log_odds(all_features).reshape(-1, 1), labels, sample_weight=weights)
    return {
        "ranker": ranker.to_dict(),
        "present": present_model.to_dict(),
        "right": right_model.to_dict(),
        "calibration": [float(platt.coef_[0, 0]), float(platt.intercept_[0])],
    }


MAX_WRONG_REFUSALS = 0.08  # answerable questions refused, at most, on dev
SURE_PRECISION = 0.90  # answers shown as sure must be right this often, on dev
BINS = 10  # for the expected calibration error


def outcomes(record: dict, examples: Examples) -> list[dict]:
    """Per question of an evaluated split: answerable, the confidence, whether the answer
    quoting the best candidate is right (extractive, one passage)."""
    from rag.answering.decisions import Model
    from rag.answering.features import ANSWER_FEATURES, SENTENCE_FEATURES

    ranker = Model.from_dict(record["ranker"], SENTENCE_FEATURES)
    present = Model.from_dict(record["present"], ANSWER_FEATURES)
    answer = Model.from_dict(record["right"], ANSWER_FEATURES)
    a, b = record["calibration"]
    scores = ranker.log_odds(examples.features)
    features, right, numbers = answer_examples(examples, scores)
    confidence = 1.0 / (1.0 + np.exp(-(a * answer.log_odds(features) + b)))
    answerable = 1.0 / (1.0 + np.exp(-present.log_odds(features)))
    found = {
        int(n): (float(p), float(c), int(r))
        for n, p, c, r in zip(numbers, answerable, confidence, right)
    }
    return [
        {
            "id": item["id"],
            "answerable": item["answerable"],
            "present": found.get(number, (0.0, 0.0, 0))[0],
            "confidence": found.get(number, (0.0, 0.0, 0))[1],
            "right": found.get(number, (0.0, 0.0, 0))[2],
        }
        for number, item in enumerate(examples.items)
    ]


def choose_thresholds(dev: list[dict]) -> dict:
    """The answer threshold (on the probability that the article is present): the highest
    that refuses at most MAX_WRONG_REFUSALS of dev's answerable questions; the sure threshold
    (on the confidence): the lowest above which dev's answers are right at least
    SURE_PRECISION of the time."""
    answerable = sorted(o["present"] for o in dev if o["answerable"])
    allowed = int(MAX_WRONG_REFUSALS * len(answerable))
    answer = answerable[allowed] if answerable else 0.5
    answered = sorted((o["confidence"], o["right"]) for o in dev if o["present"] >= answer)
    sure = 1.0
    for i, (confidence, _) in enumerate(answered):
        rest = [r for _, r in answered[i:]]
        if len(rest) >= 10 and sum(rest) / len(rest) >= SURE_PRECISION:
            sure = confidence
            break
    return {"answer": round(float(answer), 4), "sure": round(float(sure), 4)}


def summary(results: list[dict], thresholds: dict) -> dict:
    """What a reader meets on a split with these thresholds (extractive answers)."""
    answerable = [o for o in results if o["answerable"]]
    held_out = [o for o in results if not o["answerable"]]
    answered = [o for o in results if o["present"] >= thresholds["answer"]]
    sure = [o for o in answered if o["confidence"] >= thresholds["sure"]]
    right = [o for o in answerable if o["present"] >= thresholds["answer"] and o["right"]]
    return {
        "answerable": len(answerable),
        "held_out": len(held_out),
        "correct_cited": round(len(right) / max(len(answerable), 1), 4),
        "held_out_refused": round(
            sum(o["present"] < thresholds["answer"] for o in held_out) / max(len(held_out), 1),
            4,
        ),
        "wrongly_refused": round(
            sum(o["present"] < thresholds["answer"] for o in answerable) / max(len(answerable), 1),
            4,
        ),
        "sure_share": round(len(sure) / max(len(answered), 1), 4),
        "sure_right": round(sum(o["right"] for o in sure) / max(len(sure), 1), 4),
        "calibration_error": round(calibration_error(answered), 4),
    }


def calibration_error(results: list[dict]) -> float:
    """Expected calibration error of the answers given (see
    `confidence_training.calibration_error`)."""
    from rag.eval.confidence_training import calibration_error as by_bins

    confidence = np.array([o["confidence"] for o in results])
    right = np.array([o["right"] for o in results], dtype=float)
    return by_bins(confidence, right, BINS)


def train_decisions(dataset, settings, embedder, work_dir, progress=None) -> dict:
    """Everything `rag eval train` does: index the dataset's corpus, collect the examples of
    train (and train without its articles), dev and test, fit, choose the thresholds on dev,
    and return the decisions' record with the data's hash and the dev and test figures."""
    import platform

    import sklearn

    from rag.eval.squad_answers import prepare

    split, retriever = prepare(dataset, settings, embedder, work_dir, progress=False)
    top_k = settings.top_k
    examples = collect(retriever, split.all_questions("train"), top_k)
    without = collect(retriever, split.all_questions("train"), top_k, without_own=True)
    record = train(examples, without)
    evaluated = {
        name: outcomes(record, collect(retriever, split.all_questions(name), top_k))
        for name in ("dev", "test")
    }
    record["thresholds"] = choose_thresholds(evaluated["dev"])
    record["trained_on"] = {
        "dataset": Path(dataset).name,
        "data_sha256": hashlib.sha256((examples.digest() + without.digest()).encode()).hexdigest(),
        "questions": len(examples.items),
        "candidates": int(len(examples.labels)),
        "seed": SEED,
        "folds": FOLDS,
        "held_out_weight": HELD_OUT_WEIGHT,
        "embedder": embedder.id,
        "libraries": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    record["measured"] = {
        name: summary(results, record["thresholds"]) for name, results in evaluated.items()
    }
    return record


# --- the ranker across languages --------------------------------------------------------------


def ranking_figures(examples: Examples, scores: np.ndarray, evidence: int) -> dict:
    """Over a split's answerable questions: how often a sentence holding the gold answer (in the
    gold article) is the ranker's first, in its best two, among the `evidence` best, and how
    often the extractive answer (the best passages `decisions.quoted` keeps, with their
    context) holds it."""
    from rag.answering.decisions import quoted

    counts = {"first": 0, "top_2": 0, "in_evidence": 0, "quoted_right": 0}
    answerable = [n for n, item in enumerate(examples.items) if item["answerable"]]
    rows_of = question_rows(examples)
    for number in answerable:
        rows = rows_of.get(number)
        if rows is None:
            continue
        ranked = rows[np.argsort(-scores[rows], kind="stable")]
        kept = quoted(list(1.0 / (1.0 + np.exp(-scores[ranked[:2]]))))
        counts["first"] += int(examples.labels[ranked[0]])
        counts["top_2"] += int(examples.labels[ranked[:2]].max())
        counts["in_evidence"] += int(examples.labels[ranked[:evidence]].max())
        counts["quoted_right"] += int(examples.shown_labels[ranked[:kept]].max())
    total = max(len(answerable), 1)
    return {"questions": len(answerable), **{k: round(v / total, 4) for k, v in counts.items()}}


def file_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_ranker_across(dataset, settings, embedder, work_dir, translations, shipped) -> dict:
    """What `rag eval train --translations` does: the ranker of candidates in another language
    than the question, fitted on the train questions the `translations` files translate (asked
    over the dataset's articles), measured on dev's and test's translated samples against the
    `shipped` decisions' ranker. Returns its record (`decisions.with_ranker_across`)."""
    import platform

    import sklearn

    from rag.answering.features import SENTENCE_FEATURES
    from rag.eval.squad_answers import prepare, translated

    split, retriever = prepare(dataset, settings, embedder, work_dir, progress=False)

    def asked(items: list[dict]) -> list[dict]:
        found: dict[str, dict] = {}
        for path in translations:
            for item in translated(items, path):
                found.setdefault(item["id"], item)
        return list(found.values())

    train_items = asked(split.all_questions("train"))
    if not train_items:
        raise ValueError("the translations files translate no question of the train split")
    examples = collect(retriever, train_items, settings.top_k)
    model = fit_model(examples.features, examples.labels, SENTENCE_FEATURES)
    measured = {}
    for name in ("dev", "test"):
        sample = collect(retriever, asked(split.questions[name]), settings.top_k)
        measured[name] = {
            "before": ranking_figures(
                sample, shipped.ranker.log_odds(sample.features), settings.evidence
            ),
            "after": ranking_figures(sample, model.log_odds(sample.features), settings.evidence),
        }
    return {
        "model": model.to_dict(),
        "trained_on": {
            "dataset": Path(dataset).name,
            "translations": {Path(p).name: file_digest(p) for p in translations},
            "data_sha256": examples.digest(),
            "questions": len(examples.items),
            "candidates": int(len(examples.labels)),
            "embedder": embedder.id,
            "libraries": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scikit-learn": sklearn.__version__,
            },
        },
        "measured": measured,
    }
