"""Ingest keeps every sentence of clean articles, byte for byte (issue 24, finding 2 and 3).

tests/data/fidelity/ holds 31 clean articles: French and English news phrasing with lines that
open with "Share", "Partager", "Lire aussi", "Cliquez"; accented capitals next to guillemets and
dashes ("« CAFÉ»", "CÔTÉ–EST"); names in Romanian, Polish, Czech and Turkish; and six PIAF
paragraphs. scripts/bench_fidelity.py prints the same measure sentence by sentence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.eval.fidelity import measure_article, measure_folder, normalize, sentences
from rag.ingest.corpus import load_corpus
from tests.conftest import ROOT

FIDELITY = ROOT / "tests" / "data" / "fidelity"


@pytest.fixture(scope="module")
def loaded():
    return load_corpus(FIDELITY)


def test_the_clean_set_is_about_thirty_articles(loaded):
    assert len(loaded.documents) >= 30 and loaded.skipped == []


def test_every_sentence_of_the_clean_set_survives_ingest(loaded):
    missing = []
    for document in loaded.documents:
        source = Path(document.path).read_text(encoding="utf-8")
        cleaned = normalize(document.text)
        missing += [f"{document.doc_id}: {s}" for s in sentences(source) if s not in cleaned]
    assert missing == []


def test_the_benchmark_measures_no_loss_on_the_clean_set():
    results = measure_folder(FIDELITY)
    assert sum(r.characters for r in results) > 20_000
    assert [(r.name, r.damaged, r.skipped) for r in results if r.lost] == []


def test_the_benchmark_counts_what_is_lost():
    source = "Une phrase gardée ici.\nPartager une phrase perdue."
    result = measure_article("a.txt", source, "Une phrase gardée ici.")
    assert result.damaged == [("Partager une phrase perdue.", len("Partager une phrase perdue."))]
    assert result.lost == len("Partager une phrase perdue.")
