"""The openai: backend against a real OpenAI-compatible server: llama.cpp's, on 127.0.0.1 (slow)."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from rag.answering.answer import Answer, Draft
from rag.backends.bundled import BUNDLED, ensure_gguf
from rag.backends.llms import get_llm
from rag.config import Settings
from rag.index.embedders import get_embedder
from rag.service import Service
from tests.conftest import SEEDS, free_port, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_url():
    settings = Settings()
    model = ensure_gguf(BUNDLED["qwen2.5-coder-1.5b"], settings.model_cache_dir())
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "qwen",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):  # bounded: one minute
            if process.poll() is not None:
                raise AssertionError("llama_cpp.server exited at start")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1) as response:
                    json.load(response)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("llama_cpp.server did not start")
        yield url
    finally:
        stop(process)


def test_streamed_structured_cited_answer_from_the_server(server_url, tmp_path):
    # A cold prompt on a busy 2-core machine can take longer than the 20 s default to its
    # first token; this test is about streaming and structured output, not the time limit.
    settings = Settings(
        index_dir=str(tmp_path / "index"), corpus_dir=str(SEEDS), first_token_timeout=120
    )
    llm = get_llm(f"openai:{server_url}#qwen", settings)
    service = Service.open(settings, llm=llm, embedder=get_embedder(settings.embedder))
    events = list(service.stream("Avec quel pays africain la Chine s'est-elle associée ?"))
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.notice is None, answer.notice
    assert any(isinstance(e, Draft) for e in events[:-1]), "the answer was not streamed"
    assert not answer.refused and "Zambie" in answer.text and answer.sources
    # llama.cpp's server refuses OpenAI's json_schema form and takes json_object + schema.
    assert llm._form == "json_object"


def test_unreachable_server_falls_back_to_an_extractive_answer(tmp_path, caplog):
    settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(SEEDS), llm_timeout=5)
    llm = get_llm(f"openai:http://127.0.0.1:{free_port()}/v1#none", settings)
    service = Service.open(settings, llm=llm, embedder=get_embedder(settings.embedder))
    answer = service.ask("Avec quel pays africain la Chine s'est-elle associée ?")
    assert answer.notice and llm.name in answer.notice  # the backend, not why: that is logged
    assert "Cannot reach" not in answer.notice and "Cannot reach" in caplog.text
    assert not answer.refused and answer.sources


def test_the_server_judges_as_the_same_weights_judge_in_process(server_url):
    from rag.answering import prompts

    settings = Settings()
    remote = get_llm(f"openai:{server_url}#qwen", settings)
    local = get_llm("qwen2.5-coder-1.5b", settings)
    question = "Qui est le ministre chinois des Affaires étrangères ?"
    passages = [
        "Wang Yi, ministre chinois des Affaires étrangères, a lancé le plan lors d'une réunion.",
        "La Zambie a signé un accord avec la Chine en 2024.",
    ]
    asked = (
        prompts.JUDGE_SYSTEM["fr"],
        prompts.JUDGE_ASKED["fr"].format(question=question),
        passages,
        prompts.JUDGE_ASK["fr"],
    )
    served, in_process = remote.judge(*asked), local.judge(*asked)
    assert served == pytest.approx(in_process, abs=0.5)
    assert served[0] > served[1] + 1.0  # the passage that answers is judged higher
