"""The same question through every local backend gives a valid answer record (slow: real models)."""

import json

import pytest

from rag.answering.answer import Answer
from rag.backends.bundled import BUNDLED, ensure_gguf
from rag.backends.llms import get_llm
from rag.config import Settings
from rag.index.embedders import get_embedder
from rag.service import Service
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow

QUESTION = "Avec quel pays africain la Chine s'est-elle associée ?"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = Settings(
        index_dir=str(tmp_path_factory.mktemp("index")),
        corpus_dir=str(SEEDS),
        llms=f"small-gguf=gguf:{small_gguf()}",  # a GGUF file the operator offers by name
    )
    return Service.open(
        settings, llm=get_llm("extractive"), embedder=get_embedder(settings.embedder)
    )


def small_gguf() -> str:
    return str(ensure_gguf(BUNDLED["qwen2.5-coder-0.5b"], Settings().model_cache_dir()))


@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "small-gguf", "extractive"])
def test_each_backend_returns_a_valid_cited_record(service, name):
    answer = service.with_llm(name).ask(QUESTION)
    record = json.loads(answer.to_json())
    assert set(record) == set(Answer.__dataclass_fields__)
    assert record["language"] == "fr" and record["question"] == QUESTION
    assert record["model"] == name
    assert not record["refused"], record["text"]
    assert "Zambie" in record["text"]
    numbers = {s["n"] for s in record["sources"]}
    assert numbers and all(set(s["sources"]) <= numbers for s in record["sentences"])
    for source in record["sources"]:
        text = service.documents()[source["doc_id"]].text
        assert text[source["start"] : source["end"]] == source["text"]
