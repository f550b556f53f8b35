"""`rag eval retrieval`: SQuAD loading, document-level metrics, and the run on a tiny dataset."""

import json

import pytest

from rag.cli import build_parser, cmd_eval_answers, cmd_eval_retrieval, main
from rag.config import Settings
from rag.errors import ConfigError
from rag.eval.benchmarks import (
    document_ranking,
    evaluate_retrieval,
    load_squad,
    score_rankings,
)
from rag.eval.tables import answer_cells, answers_table, backends_table, retrieval_table

TINY = {
    "version": "test",
    "data": [
        {
            "title": "Zambie",
            "paragraphs": [
                {
                    "context": "La Zambie exporte surtout du cuivre extrait dans la Copperbelt. "
                    "Les mines de cuivre emploient des milliers de mineurs zambiens.",
                    "qas": [
                        {"id": "q1", "question": "Quel métal la Zambie exporte-t-elle ?"},
                        {"id": "q2", "question": "Combien de mineurs emploient les mines ?"},
                    ],
                },
                {
                    "context": "Lusaka est la capitale de la Zambie depuis 1964. La ville "
                    "accueille le gouvernement, les ambassades et un grand marché couvert.",
                    "qas": [{"id": "q3", "question": "Quelle ville est la capitale ?"}],
                },
            ],
        },
        {
            "title": "Astronomie",
            "paragraphs": [
                {
                    "context": "Le télescope spatial observe les galaxies lointaines dans "
                    "l'infrarouge. Ses miroirs dorés sont déployés en orbite.",
                    "qas": [{"id": "q4", "question": "Quelles galaxies le télescope observe ?"}],
                },
                {
                    "context": "Les comètes reviennent près du Soleil selon une période "
                    "orbitale fixe ; leur queue de poussière brille alors.",
                    "qas": [
                        {"id": "q5", "question": "Quand la queue des comètes brille-t-elle ?"},
                        {"id": "q6", "question": "   "},
                    ],
                },
            ],
        },
    ],
}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY, ensure_ascii=False), "utf-8")
    return path


def test_squad_paragraphs_become_documents_and_questions_keep_their_gold(tiny):
    dataset = load_squad(tiny)
    assert [d.doc_id for d in dataset.documents] == ["p0001", "p0002", "p0003", "p0004"]
    assert [d.title for d in dataset.documents] == ["Zambie", "Zambie"] + ["Astronomie"] * 2
    assert dataset.documents[1].text.startswith("Lusaka est la capitale")
    assert {d.language for d in dataset.documents} == {"fr"}
    gold = {q.id: q.doc_id for q in dataset.questions}
    assert gold == {"q1": "p0001", "q2": "p0001", "q3": "p0002", "q4": "p0003", "q5": "p0004"}


def test_limit_is_a_fixed_sample_over_all_paragraphs(tiny):
    first, again = load_squad(tiny, limit=3), load_squad(tiny, limit=3)
    assert len(first.questions) == 3 and first.questions == again.questions
    assert len(first.documents) == 4


def test_unreadable_dataset_says_what_is_expected(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]", "utf-8")
    with pytest.raises(ConfigError, match="SQuAD-format"):
        load_squad(path)


def test_chunk_hits_collapse_to_documents_in_rank_order():
    hits = ["p2", "p2", "p7", "p2", "p1", "p7", "p3"]
    assert document_ranking(hits) == ["p2", "p7", "p1", "p3"]
    assert document_ranking(hits, depth=2) == ["p2", "p7"]


def test_metrics_on_hand_computed_rankings():
    recall, mrr = score_rankings([["p9", "gold", "p3"]], ["gold"])
    assert recall == {1: 0.0, 5: 1.0, 10: 1.0} and mrr == pytest.approx(0.5)

    rankings = [
        ["a"],  # rank 1
        ["x", "x2", "b"],  # rank 3
        ["y1", "y2", "y3", "y4", "y5", "c"],  # rank 6: in R@10 only
        [f"z{i}" for i in range(10)] + ["d"],  # rank 11: beyond every cutoff
    ]
    recall, mrr = score_rankings(rankings, ["a", "b", "c", "d"])
    assert recall == {1: 0.25, 5: 0.5, 10: 0.75}
    assert mrr == pytest.approx((1 + 1 / 3 + 1 / 6) / 4)


@pytest.mark.parametrize("method", ["bm25", "dense", "hybrid"])
def test_each_method_finds_the_gold_paragraph(tiny, hashing_embedder, method):
    dataset = load_squad(tiny)
    settings = Settings(chunk_size=64, chunk_overlap=8)
    [scores] = evaluate_retrieval(dataset, hashing_embedder, [method], settings, progress=False)
    assert scores.method == method and scores.questions == 5
    assert scores.recall == {1: 1.0, 5: 1.0, 10: 1.0} and scores.mrr == 1.0
    assert scores.index_seconds > 0 and scores.query_ms_p90 >= scores.query_ms_median > 0
    table = retrieval_table(dataset, [scores])
    assert f"| {method} | 1.000 | 1.000 | 1.000 | 1.000 |" in table
    record = scores.to_dict()
    assert [record[k] for k in ("R@1", "R@5", "R@10", "MRR@10")] == [1.0] * 4


SUMMARY = {
    "questions": 40,
    "answered_correctly": 0.9333,
    "correct_and_cited": 0.875,
    "refused_unanswerable": 1.0,
    "wrongly_refused": 0.0417,
    "language_match": 0.975,
    "first_token_median": 1.234,
    "first_token_p90": 12.5,
    "total_median": 3.456,
    "total_p90": 20.0,
}


def test_answer_summaries_render_as_one_run_and_as_a_row_per_backend():
    assert answers_table("seeds, qwen", SUMMARY).splitlines() == [
        "seeds, qwen: 40 questions",
        "",
        "| measure | value |",
        "|---|---|",
        "| correct (answerable) | 93% |",
        "| correct and cited (answerable) | 88% |",
        "| refused (unanswerable) | 100% |",
        "| wrongly refused (answerable) | 4% |",
        "| answer language = question language | 98% |",
        "| first token median / p90 | 1.23 s / 12.50 s |",
        "| full answer median / p90 | 3.46 s / 20.00 s |",
    ]
    rows = backends_table({"qwen": SUMMARY, "extractive": SUMMARY}).splitlines()
    assert rows[0].startswith("| backend | correct + cited | refused (unanswerable) |")
    assert rows[1] == "|---|---|---|---|---|---|---|"
    assert rows[2] == "| qwen | 88% | 100% | 4% | 98% | 1.23 s / 12.50 s | 3.46 s / 20.00 s |"
    assert rows[3].startswith("| extractive | 88% |") and len(rows) == 4
    assert answer_cells(SUMMARY, compact=True)["total"] == "3.46 / 20.00 s"


def test_a_wrong_gold_lowers_the_scores(tiny, hashing_embedder):
    """The metrics follow the gold labels: swapping two paragraphs' questions costs recall."""
    dataset = load_squad(tiny)
    swapped = {"p0001": "p0003", "p0003": "p0001"}
    dataset.questions = [
        type(q)(q.id, q.text, swapped.get(q.doc_id, q.doc_id)) for q in dataset.questions
    ]
    [scores] = evaluate_retrieval(dataset, hashing_embedder, ["hybrid"], progress=False)
    assert scores.recall[1] == pytest.approx(2 / 5)
    assert scores.recall[10] == 1.0  # dense search ranks all four paragraphs
    assert scores.mrr < 1.0


def test_unknown_method_is_refused(tiny, hashing_embedder):
    with pytest.raises(ConfigError, match="hybrid"):
        evaluate_retrieval(load_squad(tiny), hashing_embedder, ["splade"], progress=False)


def test_eval_subcommands_are_wired():
    parser = build_parser()
    args = parser.parse_args(["eval", "retrieval", "--dataset", "x.json", "--method", "all"])
    assert args.handler is cmd_eval_retrieval and args.method == "all" and args.limit is None
    args = parser.parse_args(
        ["eval", "answers", "--questions", "q.jsonl", "--llm", "extractive", "--json"]
    )
    assert args.handler is cmd_eval_answers and args.llm == "extractive" and args.json
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "retrieval", "--dataset", "x.json", "--method", "splade"])


@pytest.mark.slow
def test_cli_eval_retrieval_with_the_default_embedder(tiny, capsys):
    assert main(["eval", "retrieval", "--dataset", str(tiny), "--method", "all", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in record["results"]] == ["bm25", "dense", "hybrid"]
    assert record["documents"] == 4
    for result in record["results"]:
        assert result["questions"] == 5 and result["R@5"] == 1.0


def test_hybrid_fuses_chunks_best_sentences_and_bm25(tiny, hashing_embedder, tmp_path):
    """A paragraph first in all three rankings scores 3 / (RRF_K + 1): none is left out."""
    from rag.answering.retrieval import RRF_K, Retriever
    from rag.index.store import build_index, load_index

    dataset = load_squad(tiny)
    build_index(dataset.documents, hashing_embedder, tmp_path / "index", 64, 8)
    index = load_index(tmp_path / "index")
    question = "Quelle ville est la capitale de la Zambie depuis 1964 ?"
    top = Retriever(index, hashing_embedder).search(question, 3)[0]
    assert top.chunk.doc_id == "p0002"
    assert top.score == pytest.approx(3 / (RRF_K + 1))
    dense_only = Retriever(index, hashing_embedder, mode="dense").search(question, 3)[0]
    assert dense_only.score == pytest.approx(1 / (RRF_K + 1)) and dense_only.bm25_score is None
