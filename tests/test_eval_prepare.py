"""Evaluations on one work dir take turns: the corpus and index are written under its lock."""

import json
import threading

from rag.config import Settings
from rag.eval.squad_answers import prepare
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
