"""The learned decisions: the ranker and the answer probability on fixed vectors, the shipped
parameters, a tiny deterministic training run, and answers they now decide."""

import dataclasses

import numpy as np
import pytest

from rag.answering import decisions
from rag.answering.decisions import Model
from rag.answering.features import ANSWER_FEATURES, SENTENCE_FEATURES, answer_features
from rag.eval.training import (
    Examples,
    calibration_error,
    choose_thresholds,
    outcomes,
    ranking_figures,
    summary,
    train,
)


def test_a_one_layer_model_is_logistic_regression_on_standardised_features():
    model = Model(
        ("a", "b"),
        np.array([1.0, 0.0]),
        np.array([2.0, 1.0]),
        (np.array([[1.0], [-1.0]]),),
        (np.array([0.5]),),
    )
    rows = np.array([[3.0, 1.0], [1.0, 0.0]])
    assert model.log_odds(rows) == pytest.approx([(3 - 1) / 2 - 1 + 0.5, 0.5])


def test_a_hidden_layer_is_rectified():
    model = Model(
        ("a",),
        np.zeros(1),
        np.ones(1),
        (np.array([[1.0, -1.0]]), np.array([[1.0], [1.0]])),
        (np.zeros(2), np.zeros(1)),
    )
    assert model.log_odds(np.array([[2.0], [-3.0]])) == pytest.approx([2.0, 3.0])


def test_features_of_another_version_are_refused():
    record = Model(("x",), np.zeros(1), np.ones(1), (np.ones((1, 1)),), (np.zeros(1),)).to_dict()
    with pytest.raises(Exception, match="retrain"):
        Model.from_dict(record, SENTENCE_FEATURES)


def test_the_probabilities_are_calibrated_log_odds_and_labelled_by_the_thresholds():
    shipped = decisions.load()
    first = Model(
        ANSWER_FEATURES,
        np.zeros(len(ANSWER_FEATURES)),
        np.ones(len(ANSWER_FEATURES)),
        (np.eye(len(ANSWER_FEATURES))[:, :1],),
        (np.zeros(1),),
    )
    made = decisions.Decisions(shipped.ranker, first, first, (2.0, -1.0), 0.4, 0.8, {})
    features = np.zeros(len(ANSWER_FEATURES))
    features[0] = 2.0  # log-odds 2
    assert made.answerable(features) == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert made.confidence(features) == pytest.approx(1 / (1 + np.exp(-(2.0 * 2.0 - 1.0))))
    assert made.label(0.88) == "sure"
    assert made.label(0.5) == "unsure"


def test_a_second_passage_is_quoted_when_nearly_as_likely():
    assert decisions.quoted([0.8, 0.5]) == 2
    assert decisions.quoted([0.8, 0.3]) == 1
    assert decisions.quoted([0.8]) == 1
    assert decisions.quoted([]) == 0


def test_the_shipped_parameters_load_and_match_their_recorded_hash():
    shipped = decisions.load()
    record = shipped.record
    assert record["parameters_sha256"] == decisions.parameters_digest(record)
    assert len(record["trained_on"]["data_sha256"]) == 64
    assert 0.0 < shipped.answer_threshold <= shipped.sure_threshold <= 1.0
    for split in ("dev", "test"):
        assert 0.0 <= record["measured"][split]["correct_cited"] <= 1.0


def test_answer_features_compare_the_best_candidate_with_other_articles():
    features = np.zeros((3, len(SENTENCE_FEATURES)))
    cosine = SENTENCE_FEATURES.index("cosine")
    features[:, cosine] = [0.9, 0.8, 0.85]
    scores = np.array([2.0, 1.0, -1.0])
    values = dict(zip(ANSWER_FEATURES, answer_features(features, scores, ["a", "a", "b"], 4)))
    assert values["top_score"] == 2.0 and values["second_score"] == 1.0
    assert values["other_article_margin"] == pytest.approx(3.0)  # against article b's -1
    assert values["top_cosine_gap_other"] == pytest.approx(0.05)
    assert values["articles"] == pytest.approx(np.log1p(2))


def _synthetic(seed: int, questions: int = 60, without: bool = False) -> Examples:
    """Questions of 8 candidates whose first two features say which one answers."""
    rng = np.random.default_rng(seed)
    rows, labels, owner, articles, shown, items = [], [], [], [], [], []
    for number in range(questions):
        right = -1 if without else rng.integers(8)
        for candidate in range(8):
            row = rng.normal(size=len(SENTENCE_FEATURES))
            if candidate == right:
                row[:2] += 2.5
            rows.append(row)
            labels.append(int(candidate == right))
            shown.append(int(candidate == right))
            owner.append(number)
            articles.append(f"doc{number % 6}-{candidate % 2}")
        items.append(
            {
                "id": f"q{number}",
                "answerable": not without,
                "doc_ids": [f"doc{number % 6}-0"],
                "without_own": without,
                "question_terms": 5,
            }
        )
    return Examples(
        np.asarray(rows, dtype=np.float32),
        np.asarray(labels, dtype=np.int8),
        np.asarray(owner, dtype=np.int32),
        np.asarray(articles),
        np.asarray(shown, dtype=np.int8),
        items,
    )


def test_training_is_deterministic_and_learns_the_ranking():
    examples, without = _synthetic(1), _synthetic(2, without=True)
    first, second = train(examples, without), train(examples, without)
    assert first == second
    dev = _synthetic(3)
    results = outcomes(first, dev)
    assert sum(o["right"] for o in results) / len(results) > 0.8  # chance is 1/8
    thresholds = choose_thresholds(results)
    figures = summary(results, thresholds)
    assert figures["wrongly_refused"] <= 0.08 + 1 / 60
    assert 0.0 <= calibration_error(results) <= 1.0


def test_examples_asked_without_their_article_never_draw_on_it(retriever):
    from rag.eval.training import collect

    article = next(iter(retriever.index.documents))
    item = {
        "id": "q",
        "question": "Qui a fondé DeepSeek ?",
        "answerable": True,
        "doc_ids": [article],
        "answer_any": ["Liang Wenfeng"],
    }
    kept = collect(retriever, [item], top_k=4)
    without = collect(retriever, [item], top_k=4, without_own=True)
    assert article in set(kept.documents)
    assert len(without.documents) and article not in set(without.documents)
    assert without.items[0]["answerable"] is False and not without.labels.any()


def _across(rows: int, same_language: float) -> np.ndarray:
    features = np.zeros((rows, len(SENTENCE_FEATURES)))
    features[:, SENTENCE_FEATURES.index("same_language")] = same_language
    return features


def test_candidates_in_another_language_are_ranked_by_the_ranker_across():
    shipped = decisions.load()
    constant = Model(
        SENTENCE_FEATURES,
        np.zeros(len(SENTENCE_FEATURES)),
        np.ones(len(SENTENCE_FEATURES)),
        (np.zeros((len(SENTENCE_FEATURES), 1)),),
        (np.array([7.0]),),
    )
    made = dataclasses.replace(shipped, ranker_across=constant)
    features = np.vstack([_across(2, 1.0), _across(3, 0.0)])
    scores = made.rank(features)
    assert scores[2:] == pytest.approx([7.0, 7.0, 7.0])  # the ranker across
    assert scores[:2] == pytest.approx(shipped.ranker.log_odds(features[:2]))  # the first
    without = dataclasses.replace(shipped, ranker_across=None)
    assert without.rank(features) == pytest.approx(shipped.ranker.log_odds(features))


def test_the_shipped_ranker_across_matches_its_hash_and_translations():
    from pathlib import Path

    from rag.eval.training import file_digest

    record = decisions.load().record["ranker_across"]
    assert record["parameters_sha256"] == decisions.parameters_digest(record, ("model",))
    assert decisions.load().ranker_across is not None
    data = Path(__file__).parent / "data"
    for name, digest in record["trained_on"]["translations"].items():
        assert file_digest(data / name) == digest, f"{name} changed since the ranker was trained"
    for split in ("dev", "test"):
        assert 0.0 <= record["measured"][split]["after"]["first"] <= 1.0


def test_ranking_figures_count_the_gold_sentence_among_the_best():
    examples = _synthetic(4, questions=20)
    perfect = examples.labels.astype(float) * 4 - 2
    figures = ranking_figures(examples, perfect, evidence=3)
    assert figures["questions"] == 20
    assert figures["first"] == figures["top_2"] == figures["in_evidence"] == 1.0
    assert figures["quoted_right"] == 1.0
    backwards = ranking_figures(examples, -perfect, evidence=3)
    assert backwards["first"] == backwards["in_evidence"] == 0.0


def test_training_the_ranker_across_is_deterministic(tmp_path):
    import json

    from rag.config import Settings
    from rag.eval.squad_answers import load_articles, split_articles
    from rag.eval.training import train_ranker_across
    from tests.conftest import HashingEmbedder
    from tests.test_eval_prepare import squad

    dataset = squad(tmp_path / "tiny.json", articles=30)
    split = split_articles(load_articles(dataset))
    translations = tmp_path / "en.jsonl"
    translations.write_text(
        "".join(
            json.dumps(
                {
                    "id": item["id"],
                    "question": "How many inhabitants does "
                    + item["question"].split("compte la ")[1].replace(" ?", "")
                    + " have?",
                    "answers": item["answer_any"] or ["none"],
                    "language": "en",
                }
            )
            + "\n"
            for name in ("train", "dev", "test")
            for item in split.all_questions(name)
        )
    )
    settings, shipped = Settings(), decisions.load()
    runs = [
        train_ranker_across(
            dataset, settings, HashingEmbedder(), tmp_path / "work", [translations], shipped
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0]["trained_on"]["questions"] > 0
    assert set(runs[0]["measured"]) == {"dev", "test"}
    Model.from_dict(runs[0]["model"], SENTENCE_FEATURES)
