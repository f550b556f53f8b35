"""Judging passages with a remote backend (a server's token probabilities), and answers rated
by a confidence trained for the backend that judged them."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from rag.answering import confidence
from rag.answering.answer import AnswerPipeline
from rag.backends.llms import OpenAICompatibleLLM, yes_no_odds
from rag.eval import confidence_training as training
from tests.conftest import ScriptedLLM, json_reply
from tests.test_confidence import RECORDS
from tests.test_judged import QUESTION, SETTINGS, Judging


def test_yes_and_no_are_read_from_the_tokens_that_begin_them():
    choices = {"Yes": -0.7, "No": -0.75, "yes": -4.3, " no": -9.7, "The": -8.1}
    expected = np.logaddexp(-0.7, -4.3) - np.logaddexp(-0.75, -9.7)
    assert yes_no_odds(choices) == pytest.approx(expected)
    assert yes_no_odds({"O": -0.1, "N": -2.4}) == pytest.approx(2.3)  # "Oui", "Non" begun


def test_a_side_missing_from_the_list_gets_the_least_likely_listed_probability():
    assert yes_no_odds({"Yes": -0.05, "The": -5.0, "Let": -6.0}) == pytest.approx(5.95)
    assert yes_no_odds({"Non": -0.1, "Le": -3.0}) == pytest.approx(-2.9)


class _Server(BaseHTTPRequestHandler):
    """Answers every chat request with `reply(body)`, and keeps the bodies it got."""

    reply = staticmethod(lambda body: {})
    bodies: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        payload = json.dumps(self.reply(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def chat_server(reply):
    """A chat server on a free port of 127.0.0.1 answering `reply(body)`: its handler class."""
    handler = type("Handler", (_Server,), {"reply": staticmethod(reply), "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        handler.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def _listing(yes: float, no: float) -> dict:
    top = [{"token": "Yes", "logprob": yes}, {"token": "No", "logprob": no}]
    first = {"token": "Yes", "logprob": yes, "top_logprobs": top}
    return {"choices": [{"message": {"content": "Yes"}, "logprobs": {"content": [first]}}]}


def test_a_server_judges_each_passage_from_its_listed_token_probabilities():
    def reply(body):
        passage = body["messages"][1]["content"]
        return _listing(-0.1, -2.5) if "Zambie" in passage else _listing(-3.0, -0.2)

    with chat_server(reply) as server:
        llm = OpenAICompatibleLLM("openai:test", server.url, "m")
        odds = llm.judge(
            "Réponds par oui ou non.", "Question : ?\nPassage : ", ["Zambie", "x"], "?"
        )
    assert odds == pytest.approx([2.4, -2.8])
    body = server.bodies[0]
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["messages"][1]["content"] == "Question : ?\nPassage : Zambie?"


def test_a_server_that_lists_no_token_probabilities_is_not_asked_again():
    plain = {"choices": [{"message": {"content": "Oui"}, "logprobs": None}]}
    with chat_server(lambda body: plain) as server:
        llm = OpenAICompatibleLLM("openai:test", server.url, "m")
        assert llm.judge("s", "q", ["a", "b"], "?") is None
        assert llm.judge("s", "q", ["a"], "?") is None
    assert len(server.bodies) == 1


def _trained_for(name: str) -> dict:
    record = training.fitted(RECORDS, RECORDS[:12])
    record["trained_on"]["judge"] = name
    return record


def test_a_backend_is_rated_by_the_confidence_trained_for_it(tmp_path):
    name = "openai:http://gpu:8000/v1#qwen-32b"
    assert confidence.for_model("qwen2.5-coder-1.5b", tmp_path) is confidence.load()
    assert confidence.for_model(name, tmp_path) is None
    path = confidence.trained_path(name, tmp_path)
    confidence.save(_trained_for(name), path)
    assert path.parent == tmp_path / "confidence" and "qwen-32b" in path.name
    assert confidence.for_model(name, tmp_path).record["trained_on"]["judge"] == name
    assert confidence.for_model("openai:http://gpu:8000/v1#other", tmp_path) is None


def test_answers_from_a_backend_with_its_own_confidence_are_judged_and_rated(retriever, tmp_path):
    settings = SETTINGS.replace(model_cache=str(tmp_path))
    llm = Judging(lambda passages: [3.0] * len(passages))
    llm.name = "openai:http://gpu:8000/v1#qwen-32b"
    unrated = AnswerPipeline(retriever, llm, settings).ask(QUESTION)
    assert llm.judged == [] and unrated.confidence is None  # none trained: the gate, written
    confidence.save(_trained_for(llm.name), confidence.trained_path(llm.name, tmp_path))
    rated = AnswerPipeline(retriever, llm, settings).ask(QUESTION)
    assert len(llm.judged) == 1 and rated.confidence is not None and not rated.refused


class _Parts:  # the service's parts, with no model or embedder loaded
    llm = None

    def __init__(self, settings):
        self.embedder = None


def test_training_writes_a_backends_own_file_and_refuses_one_that_cannot_judge(
    tmp_path, monkeypatch, capsys
):
    from rag import cli, service

    def trained(dataset, settings, embedder, llm, work_dir, progress, translations=None):
        work_dir.mkdir(parents=True, exist_ok=True)
        return {**training.fitted(RECORDS, RECORDS[:12]), "records": {"train": RECORDS}}

    monkeypatch.setattr(service, "Service", _Parts)
    monkeypatch.setattr(training, "train_confidence", trained)
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path / "cache"))
    command = ["eval", "train-confidence", "--dataset", "piaf.json", "--work-dir", str(tmp_path)]
    shipped = confidence.PARAMETERS.read_text()
    _Parts.llm = Judging(lambda passages: [1.0] * len(passages))
    _Parts.llm.name = "openai:http://gpu:8000/v1#qwen-32b"
    assert cli.main(command) == 0
    written = confidence.trained_path(_Parts.llm.name, tmp_path / "cache")
    assert written.is_file() and (tmp_path / "piaf" / f"{written.stem}-records.json").is_file()
    assert not (tmp_path / "piaf" / "confidence-records.json").exists()
    assert confidence.PARAMETERS.read_text() == shipped
    _Parts.llm = ScriptedLLM(json_reply([]))  # lists no token probabilities
    assert cli.main(command) == 2
    assert "cannot judge passages" in capsys.readouterr().err


def test_the_model_shipped_for_the_small_bundled_llm_loads_and_matches_its_recorded_hash(
    tmp_path,
):
    from rag.answering.decisions import parameters_digest

    small = confidence.for_model("qwen2.5-coder-0.5b", tmp_path)  # nothing trained here
    record = small.record
    assert record["trained_on"]["judge"] == "qwen2.5-coder-0.5b" and small is not confidence.load()
    assert record["parameters_sha256"] == parameters_digest(record, confidence.FITTED)
    assert len(record["trained_on"]["data_sha256"]) == 64
    assert 0.0 <= small.answer < small.sure <= 1.0
