"""The confidence shown with each answer: the shipped model, its training on fixed records,
the "sure" threshold, calibration, and questions asked without their own article."""

import numpy as np
import pytest

from rag.answering import confidence
from rag.answering.decisions import parameters_digest
from rag.config import Settings
from rag.eval import confidence_training as training
from tests.conftest import ScriptedLLM, json_reply


def _record(best, margin, cosine, right, refused=False, answerable=True):
    known = {
        "judged_best": best,
        "judged_margin": margin,
        "best_cosine": cosine,
        "chosen_ranked": best / 2,
        "top_ranked": 1.0 + best / 4,
        "ranked_margin": margin,
    }
    return {
        "id": "q",
        "answerable": answerable,
        "refused": refused,
        "right": right,
        "features": known,
    }


# Right answers are judged higher; the margin and the cosine say a little.
RECORDS = [
    _record(best, margin, cosine, right)
    for best, margin, cosine, right in [
        (3.0, 2.0, 0.88, True),
        (2.5, 1.0, 0.86, True),
        (2.0, 0.5, 0.87, True),
        (1.5, 1.5, 0.85, True),
        (1.0, 0.2, 0.84, False),
        (0.5, 0.1, 0.86, True),
        (0.0, 0.3, 0.83, False),
        (-0.5, 0.2, 0.84, False),
        (-1.0, 1.0, 0.82, False),
        (-2.0, 0.4, 0.81, False),
        (1.2, 0.8, 0.85, True),
        (-0.2, 0.6, 0.83, False),
    ]
] + [_record(0, 0, 0, False, refused=True), {**_record(0, 0, 0, False), "features": None}]


def test_the_shipped_model_loads_and_matches_its_recorded_hash():
    shipped = confidence.load()
    record = shipped.record
    assert record["parameters_sha256"] == parameters_digest(record, confidence.FITTED)
    assert tuple(record["model"]["features"]) == confidence.FEATURES
    assert len(record["trained_on"]["data_sha256"]) == 64
    assert 0.0 <= shipped.answer < shipped.sure <= 1.0
    assert {"train", "dev"} <= set(record["measured"])


def test_training_on_fixed_records_is_deterministic_and_reads_the_judgement():
    first, second = training.fit(RECORDS), training.fit(RECORDS)
    assert first.to_dict() == second.to_dict()
    p = training.probabilities(first, RECORDS)
    assert len(p) == 12  # the refusal and the unrated answer are not learned from
    low = {
        "judged_best": -2.0,
        "judged_margin": 0.5,
        "best_cosine": 0.84,
        "chosen_ranked": -1.0,
        "top_ranked": 0.5,
        "ranked_margin": 0.5,
    }
    high = {**low, "judged_best": 3.0, "chosen_ranked": 1.5, "top_ranked": 1.75}
    made = confidence.Confidence(first, answer=0.1, sure=0.9, record={})
    assert made.probability(high) > 0.6 > 0.4 > made.probability(low)


def test_sure_is_the_lowest_probability_above_which_dev_is_right_nine_times_in_ten():
    model = training.fit(RECORDS)
    sure = training.choose_sure(model, RECORDS)
    p = training.probabilities(model, RECORDS)
    right = np.array([r["right"] for r in training.rated(RECORDS)])
    assert right[p >= sure].mean() >= training.SURE_RIGHT
    lower = p[p < sure]
    if len(lower):  # one step lower would fall short
        assert right[p >= lower.max()].mean() < training.SURE_RIGHT


def test_sure_keeps_its_promise_on_train_and_dev_both():
    # Dev's two best-judged answers are wrong: no answer is sure on dev, so none is shown as sure.
    dev = [
        {**r, "right": False} if r["features"] and r["features"]["judged_best"] >= 2.5 else r
        for r in RECORDS
    ]
    record = training.fitted(RECORDS, dev)
    model = training.fit(RECORDS)
    sure = record["thresholds"]["sure"]
    assert sure == pytest.approx(
        max(training.choose_sure(model, RECORDS), training.choose_sure(model, dev)), abs=1e-6
    )
    assert sure == 1.0 > training.choose_sure(model, RECORDS)


def test_the_calibration_error_weighs_each_bin_by_its_answers():
    probability = np.array([0.95, 0.95, 0.15, 0.15])
    right = np.array([1.0, 1.0, 0.0, 1.0])
    # bin 9: |0.95 - 1| x 1/2; bin 1: |0.15 - 0.5| x 1/2
    assert training.calibration_error(probability, right) == pytest.approx(0.025 + 0.175)
    assert training.calibration_error(np.zeros(0), np.zeros(0)) == 0.0


def test_the_training_sample_is_fixed_and_asks_some_questions_without_their_article():
    items = [{"id": str(n), "answerable": True, "doc_ids": [f"d{n}"]} for n in range(400)]
    asked = training.sample(items)
    assert asked == training.sample(items)
    without = [(item, f) for item, f in asked if f is not None]
    assert len(without) == training.WITHOUT_OWN
    assert all(f.excluded == item["doc_ids"][0] for item, f in without)
    assert len(asked) == training.ANSWERABLE + training.WITHOUT_OWN


def test_a_question_asked_without_its_article_is_never_right(retriever):
    article = next(iter(retriever.index.documents))
    llm = ScriptedLLM(json_reply([]))
    records = training.collect(
        retriever,
        llm,
        Settings(min_relevance=0.05, top_k=4, evidence=4),
        [
            (
                {
                    "id": "q",
                    "question": "Qui a fondé DeepSeek ?",
                    "answerable": True,
                    "doc_ids": [article],
                    "answer_any": ["Liang Wenfeng"],
                    "evidence_any": [],
                    "language": "fr",
                },
                training.WithoutArticle(excluded=article),
            )
        ],
    )
    assert records[0]["answerable"] is False and records[0]["right"] is False
    assert records[0]["hidden"] == "article"
    without = training.WithoutArticle(excluded=article)
    allowed = retriever.allowed_documents(without)
    assert article not in allowed and len(allowed) == len(retriever.index.documents) - 1


def _longest_paragraph_hidden(retriever) -> tuple[str, training.WithoutPassage, str]:
    """The first article's longest paragraph after its title: the article, the filters hiding
    it, and a question made of its first words."""
    doc_id, document = next(iter(retriever.index.documents.items()))
    paragraphs = [p for p in document.text.split("\n") if p.strip()]
    hidden = max(paragraphs[1:], key=len)
    start = document.text.index(hidden)
    filters = training.WithoutPassage(doc_id=doc_id, start=start, end=start + len(hidden))
    return doc_id, filters, " ".join(hidden.split()[:12])


def test_a_hidden_paragraph_is_never_retrieved_and_the_rest_of_its_article_is(retriever):
    doc_id, filters, question = _longest_paragraph_hidden(retriever)
    seen = retriever.search(question, k=len(retriever.index.chunks))
    assert any(h.chunk.doc_id == doc_id and h.chunk.start < filters.end for h in seen)
    hits = retriever.search(question, k=len(retriever.index.chunks), filters=filters)
    ours = [h.chunk for h in hits if h.chunk.doc_id == doc_id]
    assert ours, "the article's other paragraphs stay searchable"
    assert all(c.end <= filters.start or c.start >= filters.end for c in ours)
    assert {h.chunk.doc_id for h in hits} == set(retriever.index.documents)


def test_the_sentence_ranking_ranks_as_many_chunks_with_a_paragraph_hidden(retriever):
    _doc_id, filters, question = _longest_paragraph_hidden(retriever)
    rows = {
        r
        for r, c in enumerate(retriever.index.chunks)
        if not filters.allows_passage(c.doc_id, c.start, c.end)
    }
    vector = retriever.embedder.embed_query(question)
    depth = 3
    full = retriever._sentence_ranking(vector, depth)
    assert rows & set(full), "the hidden paragraph's sentences rank first unhidden"
    ranking = retriever._sentence_ranking(vector, depth, hidden=rows)
    assert len(ranking) == depth and not rows & set(ranking)


def test_only_a_paragraph_that_alone_holds_the_answer_is_hidden():
    from rag.eval.squad_answers import Article

    article = Article("d", "T", ("Liang Wenfeng a fondé DeepSeek.", "Le siège est à Hangzhou."), ())
    text = "T\n\n" + "\n\n".join(article.paragraphs) + "\n"
    item = {"doc_ids": ["d"], "answer_any": ["Hangzhou"]}
    filters = training.answer_paragraph(item, article, text)
    assert text[filters.start : filters.end] == "Le siège est à Hangzhou."
    assert not filters.allows_passage("d", filters.start + 3, filters.end + 5)
    assert filters.allows_passage("d", 0, filters.start) and filters.allows_passage("e", 0, 99)
    twice = Article("d", "T", ("Hangzhou, 2023.", "Le siège est à Hangzhou."), ())
    assert training.answer_paragraph(item, twice, "\n\n".join(twice.paragraphs)) is None
    assert training.answer_paragraph({**item, "answer_any": ["Pékin"]}, article, text) is None


def test_the_refusal_threshold_keeps_wrong_refusals_within_the_bound():
    model = training.fit(RECORDS)
    absent = [_record(b, 0.1, 0.8, False, answerable=False) for b in (-3.0, -2.5, 0.5)]
    dev = RECORDS[:12] + absent  # the rated ones: none refused whatever the threshold
    threshold = training.choose_answer(model, dev)
    figures = training.decided(model, dev, threshold)
    assert figures["wrongly_refused"] <= training.WRONGLY_REFUSED
    assert figures["refused_unanswerable"] >= 2 / 3  # the two judged lowest at least


def test_questions_whose_answer_is_hidden_are_reported_not_trained_on():
    dev = RECORDS[:12]
    hidden = [
        {**_record(b, 0.1, 0.8, False, answerable=False), "hidden": "paragraph"}
        for b in (-3.0, -2.5, 2.5)
    ]
    record = training.fitted(RECORDS, dev, hidden)
    assert record["model"] == training.fitted(RECORDS, dev)["model"]
    assert record["thresholds"] == training.fitted(RECORDS, dev)["thresholds"]
    reported = record["measured"]["dev_answer_hidden"]
    assert reported["questions"] == 3
    assert (
        reported["refused"]
        == training.decided(training.fit(RECORDS), hidden, record["thresholds"]["answer"])[
            "refused_unanswerable"
        ]
    )
    assert "dev_answer_hidden" not in training.fitted(RECORDS, dev)["measured"]


def test_a_model_across_languages_is_saved_beside_the_first_and_hashed_on_its_own(tmp_path):
    first = training.fitted(RECORDS, RECORDS[:12])
    fitted_across = training.fitted(RECORDS[:12], RECORDS[:12], (), confidence.ACROSS_FEATURES)
    across = {**fitted_across, "trained_on": {"translations": "x"}}
    path = tmp_path / "confidence.json"
    confidence.save(confidence.with_across(first, across), path)
    loaded = confidence.load(path)
    assert loaded.across is not None and loaded.across.across is None
    assert loaded.record["parameters_sha256"] == parameters_digest(first, confidence.FITTED)
    kept = loaded.across.record
    assert kept["parameters_sha256"] == parameters_digest(kept, confidence.FITTED)
    assert loaded.model.to_dict() == first["model"]


def test_the_shipped_model_across_languages_matches_its_recorded_hash():
    across = confidence.load().across
    assert across is not None, "retrain it: rag eval train-confidence --translations ..."
    record = across.record
    assert record["parameters_sha256"] == parameters_digest(record, confidence.FITTED)
    assert record["trained_on"]["translations"] and len(record["trained_on"]["data_sha256"]) == 64
    assert 0.0 <= across.answer < across.sure <= 1.0


def test_translated_training_questions_keep_their_filters(tmp_path):
    path = tmp_path / "en.jsonl"
    path.write_text(
        '{"id": "a", "question": "Who?", "answers": ["Liang"], "language": "en"}\n'
        '{"id": "c", "question": "Where?", "answers": [], "language": "en"}\n'
    )
    items = [
        {"id": n, "question": "Qui ?", "answerable": True, "answer_any": ["L"], "doc_ids": [n]}
        for n in "abc"
    ]
    asked = [(items[0], None), (items[1], None), (items[2], training.WithoutArticle(excluded="c"))]
    translated = training.in_translation(asked, path)
    assert [(i["id"], i["question"], f) for i, f in translated] == [
        ("a", "Who?", None),
        ("c", "Where?", training.WithoutArticle(excluded="c")),
    ]
    assert translated[0][0]["answer_any"] == ["Liang", "L"] and translated[0][0]["language"] == "en"


def test_training_across_languages_keeps_the_shipped_model_and_retraining_keeps_across(
    tmp_path, monkeypatch
):
    import json

    from rag import cli, service
    from tests.test_judged import Judging

    class Parts:  # no model or embedder is loaded: training is stood in for below
        def __init__(self, settings):
            self.embedder = None
            self.llm = Judging(lambda passages: [1.0] * len(passages))

    def trained(dataset, settings, embedder, llm, work_dir, progress, translations=None):
        rows = [{**r, "right": not r["right"]} for r in RECORDS] if translations else RECORDS
        names = confidence.ACROSS_FEATURES if translations else confidence.FEATURES
        work_dir.mkdir(parents=True, exist_ok=True)
        return {**training.fitted(rows, RECORDS[:12], (), names), "records": {"train": rows}}

    monkeypatch.setattr(service, "Service", Parts)
    monkeypatch.setattr(training, "train_confidence", trained)
    output = tmp_path / "confidence.json"
    common = ["eval", "train-confidence", "--dataset", "piaf.json", "--work-dir", str(tmp_path)]
    assert cli.main([*common, "-o", str(output)]) == 0
    first = json.loads(output.read_text())
    assert cli.main([*common, "-o", str(output), "--translations", "en.jsonl"]) == 0
    both = json.loads(output.read_text())
    assert both["model"] == first["model"] and both["across"]["model"] != first["model"]
    assert (tmp_path / "piaf" / "confidence-records-across.json").is_file()
    assert cli.main([*common, "-o", str(output)]) == 0
    assert json.loads(output.read_text())["across"] == both["across"]
    confidence.load.cache_clear()
