"""Evaluations on one work dir take turns: the corpus and index are written under its lock."""

import json
import threading

import pytest

from rag.config import Settings
from rag.errors import ConfigError
from rag.eval.squad_answers import prepare, translated
from rag.index.locks import ingest_lock
from tests.conftest import HashingEmbedder


def squad(path, articles=4):
    data = [
        {
            "title": f"Article {n}",
            "paragraphs": [
                {
                    "context": f"La ville numéro {n} compte {n * 1000} habitants depuis 1990.",
                    "qas": [
                        {
                            "id": f"q{n}",
                            "question": f"Combien d'habitants compte la ville numéro {n} ?",
                            "answers": [{"text": f"{n * 1000}", "answer_start": 0}],
                        }
                    ],
                }
            ],
        }
        for n in range(1, articles + 1)
    ]
    path.write_text(json.dumps({"data": data}), encoding="utf-8")
    return path


def test_an_evaluation_waits_for_another_one_building_the_same_index(tmp_path):
    dataset = squad(tmp_path / "tiny.json")
    work_dir = tmp_path / "work"
    done = threading.Event()

    def evaluate():
        prepare(dataset, Settings(), HashingEmbedder(), work_dir, progress=False)
        done.set()

    with ingest_lock(work_dir / "index", lambda message: None):  # another one is building
        thread = threading.Thread(target=evaluate, daemon=True)
        thread.start()
        assert not done.wait(1.0)  # it waits instead of writing under the other one
        assert not (work_dir / "corpus").exists()
    assert done.wait(60)
    assert any((work_dir / "corpus").glob("*.txt"))


def test_translated_questions_are_asked_in_their_language_with_both_gold_answers(tmp_path):
    items = [
        {
            "id": "a-1",
            "question": "Combien ?",
            "language": "fr",
            "answerable": True,
            "answer_any": ["700 000 personnes"],
        },
        {"id": "b-2", "question": "Qui ?", "language": "fr", "answerable": False, "answer_any": []},
        {
            "id": "c-3",
            "question": "Où ?",
            "language": "fr",
            "answerable": True,
            "answer_any": ["Paris"],
        },
    ]
    path = tmp_path / "en.jsonl"
    path.write_text(
        json.dumps({"id": "a-1", "question": "How many?", "answers": ["700,000"], "language": "en"})
        + "\n"
        + json.dumps({"id": "b-2", "question": "Who?", "answers": [], "language": "en"})
        + "\n",
        encoding="utf-8",
    )
    asked = translated(items, path)
    assert [i["id"] for i in asked] == ["a-1", "b-2"]
    assert asked[0]["question"] == "How many?" and asked[0]["language"] == "en"
    assert asked[0]["answer_any"] == ["700,000", "700 000 personnes"]
    assert asked[1]["answer_any"] == []


def test_a_broken_translations_file_says_what_it_should_hold(tmp_path):
    path = tmp_path / "en.jsonl"
    path.write_text('{"id": "a-1", "question": "How many?"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON lines of"):
        translated([], path)
