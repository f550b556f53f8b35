"""Issue 24, the server half: nobody steers the server, no question crashes it.

Models are the operator's choice (the `/ask` API and the chat take only listed names, and a
refused name reaches no network and no file), error notices name the backend and nothing
else, a failing question is one error record in a batch, wrong passwords are slowed per
client, uploads never overwrite, the upload folder goes at stop, and one answer reads one
index generation. Real sockets on 127.0.0.1, the real Gradio server where said; test doubles
(tests/conftest.py) for the embedder and the LLM.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from rag import cli
from rag.config import Settings
from rag.service import Service
from tests.conftest import HashingEmbedder, ScriptedLLM, free_port, json_reply, served
from ui import handlers
from ui.render import plain

# --- a failing question is one error record; the batch goes on --------------------------------


class _FailingService:
    """Answers every question but the one that says "boom", which raises like a bug would."""

    def __init__(self):
        self.asked: list[str] = []

    def ask(self, question, **options):
        from rag.answering.answer import Answer

        self.asked.append(question)
        if "boom" in question:
            raise RuntimeError("something broke")
        text = f"Réponse à {question}"
        return Answer(
            question=question,
            language="fr",
            text=text,
            refused=False,
            sentences=[],
            sources=[],
            model="extractive",
        )


def test_a_failing_question_in_a_json_batch_is_an_error_record(monkeypatch, capsys, tmp_path):
    service = _FailingService()
    monkeypatch.setattr("rag.service.Service.open", lambda *args, **kwargs: service)
    monkeypatch.setattr("sys.stdin", io.StringIO("Qui ?\nboom ?\nOù ?\n"))

    code = cli.main(["ask", "-", "--json", "--index-dir", str(tmp_path / "index")])

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in records] == ["Qui ?", "boom ?", "Où ?"]
    assert records[1] == {"question": "boom ?", "error": "RuntimeError: something broke"}
    assert "text" in records[0] and "text" in records[2]
    assert code == 1  # the batch went through, and says that one question failed


def test_a_failing_question_of_a_briefing_is_left_out_and_said(monkeypatch, capsys, tmp_path):
    service = _FailingService()
    monkeypatch.setattr("rag.service.Service.open", lambda *args, **kwargs: service)
    questions = tmp_path / "questions.txt"
    questions.write_text("Qui ?\nboom ?\nOù ?\n", encoding="utf-8")
    note = tmp_path / "note.md"

    code = cli.main(["brief", str(questions), "-o", str(note), "--index-dir", str(tmp_path)])

    out = capsys.readouterr()
    assert service.asked == ["Qui ?", "boom ?", "Où ?"]
    assert "[2/3] error: RuntimeError: something broke" in out.err
    assert "2 answered, 0 refused, 1 failed (left out)" in out.out
    text = note.read_text(encoding="utf-8")
    assert "Réponse à Qui ?" in text and "Réponse à Où ?" in text and "boom" not in text
    assert code == 1


# --- models are chosen by the operator, not by the caller ---------------------------------------

ARTICLES = {
    "brest.txt": "Brest inaugure le supercalculateur Kerguelen\n\nLa ville de Brest a inauguré "
    "le 11 mars 2025 un supercalculateur baptisé Kerguelen, consacré à l'océanographie.",
    "lusaka.txt": "La Zambie et la Chine signent un accord\n\nÀ Lusaka, la Zambie et la Chine "
    "ont signé un accord sur l'intelligence artificielle et le cuivre en décembre 2024.",
    "lyon.txt": "Lyon ouvre une école de robotique\n\nUne école de robotique a ouvert ses "
    "portes à Lyon en septembre 2024 ; elle accueille trois cents élèves.",
}
QUESTION = "Qui a inauguré le supercalculateur Kerguelen ?"
KEY = "sk-test-zorglub-4242"


class Listener:
    """A TCP port on 127.0.0.1 that keeps whatever arrives and hangs up; its thread stops
    by itself after `lifetime` seconds, or at `close`."""

    def __init__(self, lifetime: float = 60.0) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(lifetime,), daemon=True)
        self._thread.start()

    def _run(self, lifetime: float) -> None:
        deadline = time.monotonic() + lifetime
        with self._socket:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    connection, _ = self._socket.accept()
                except TimeoutError:
                    continue
                with connection:
                    connection.settimeout(2.0)
                    try:
                        self.received.append(connection.recv(65536))
                    except OSError:
                        self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def listener():
    port = Listener()
    yield port
    port.close()


def open_service(tmp_path: Path, **settings) -> Service:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    options = dict(llm="extractive", min_relevance=0.0) | settings
    config = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(corpus), **options)
    return Service.open(config, embedder=HashingEmbedder())


def hostile_models(port: int, tmp_path: Path) -> list[str]:
    existing = tmp_path / "real.gguf"
    existing.write_bytes(b"GGUF" + bytes(60))
    return [
        f"openai:http://127.0.0.1:{port}/v1#x",
        "gguf:/etc/passwd",
        f"gguf:{existing}",
        f"gguf:{tmp_path}/missing.gguf",
        "hf:someone/some-repo:model.gguf",
        "qwen2.5-coder-72b",
    ]


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every backend spec the service asks the registry for."""
    from rag import service as module

    asked, real = [], module.get_llm

    def recording(spec, settings=None):
        asked.append(spec)
        return real(spec, settings)

    monkeypatch.setattr(module, "get_llm", recording)
    return asked


def test_ask_refuses_an_unlisted_model_before_any_request_or_file(tmp_path, listener, loads):
    service = open_service(tmp_path)
    offered = service.llm_choices()
    messages = set()
    for model in hostile_models(listener.port, tmp_path):
        with pytest.raises(gr.Error) as refusal:
            handlers.ask(service, QUESTION, model)
        messages.add(refusal.value.message)
        for name in offered:
            assert name in refusal.value.message
    assert len(messages) == 1  # the same words whether a file or a port exists or not
    assert "does not offer" in messages.pop()
    assert offered[0] == "extractive"  # the server's own model first
    assert listener.received == [] and set(loads) <= {"extractive"}  # no request, file, download
    assert handlers.ask(service, QUESTION, "extractive")["model"] == "extractive"


def test_the_chat_refuses_an_unlisted_model_in_the_conversation(tmp_path, listener, loads):
    service = open_service(tmp_path)
    for model in hostile_models(listener.port, tmp_path):
        updates = list(handlers.respond(service, QUESTION, [], {}, model, "auto", 3, 0.0))
        (history, answers, _, box) = updates[-1]
        assert "does not offer" in history[-1]["content"] and answers == {} and box == QUESTION
    assert listener.received == [] and set(loads) <= {"extractive"}


def test_a_configured_backend_is_listed_by_its_model_and_keeps_address_and_key(
    tmp_path, listener, monkeypatch
):
    monkeypatch.setenv("RAG_OPENAI_API_KEY", KEY)
    url = f"http://127.0.0.1:{listener.port}/v1"
    missing = tmp_path / "models" / "secret-model.gguf"
    service = open_service(tmp_path, llms=f"openai:{url}#remote-qwen, gguf:{missing}")
    offered = service.llm_choices()
    assert {"extractive", "remote-qwen", "secret-model"} <= set(offered)
    assert not [name for name in offered if "127.0.0.1" in name or "/" in name]

    record = handlers.ask(service, QUESTION, "remote-qwen")  # the server hangs up: fallback

    assert len(listener.received) == 1 and f"Bearer {KEY}".encode() in listener.received[0]
    shown = json.dumps(record, ensure_ascii=False)
    assert "remote-qwen" in record["notice"] and record["sources"]
    for secret in (KEY, "127.0.0.1", f":{listener.port}", "isconnect", "Connection", "Cannot"):
        assert secret not in shown
    with pytest.raises(gr.Error) as refusal:  # a listed file that is gone: no path, no errno
        handlers.ask(service, QUESTION, "secret-model")
    assert "secret-model" in refusal.value.message
    assert str(missing.parent) not in refusal.value.message
    assert "not found" not in refusal.value.message


def test_rag_models_says_what_the_server_offers_by_name_only(monkeypatch, capsys, listener):
    remote = f"openai:http://127.0.0.1:{listener.port}/v1"
    monkeypatch.setenv("RAG_LLMS", f"big={remote}#qwen-32b, gguf:/models/mistral-7b.gguf")
    assert cli.main(["models", "--llm", f"{remote}#local-llama"]) == 0
    offered = capsys.readouterr().out.splitlines()[-1]
    assert offered.startswith("Offered by rag serve: local-llama, big, mistral-7b, ")
    assert "extractive" in offered and "127.0.0.1" not in offered and "/models" not in offered
    assert listener.received == []  # listing loads and reaches nothing


def test_configured_backends_get_distinct_names_that_hide_their_address():
    settings = Settings(
        llm="openai:http://10.0.0.5:8000/v1#qwen",
        llms="openai:http://10.0.0.6/v1#qwen, big=openai:http://10.0.0.7/v1#qwen, "
        "gguf:/srv/models/extractive.gguf, openai:http://10.0.0.8/v1",
    )
    offered = Service(settings).llm_choices()
    assert offered[:5] == ["qwen", "qwen-2", "big", "extractive-2", "openai"]
    assert "extractive" in offered  # a file's name never takes a registry name
    with pytest.raises(Exception, match="llms"):
        Settings(llms="b@d=openai:http://10.0.0.9/v1#m")


def test_the_served_ask_api_refuses_an_unlisted_model_and_nothing_arrives(tmp_path, listener):
    from gradio_client import Client

    from ui.app import build_app

    service = open_service(tmp_path)
    with served(build_app(service)) as url:
        client = Client(url, verbose=False)
        for model in (f"openai:http://127.0.0.1:{listener.port}/v1#x", "gguf:/etc/passwd"):
            with pytest.raises(Exception, match="does not offer that model") as refusal:
                client.predict(QUESTION, model, api_name="/ask")
            assert "extractive" in str(refusal.value)
        record = client.predict(QUESTION, "extractive", api_name="/ask")
        assert record["model"] == "extractive" and record["sources"]
    assert listener.received == []


# --- one index generation per answer ------------------------------------------------------------


class HookedEmbedder(HashingEmbedder):
    """The hashing embedder, running `on_query` (once) when it embeds a question: an upload
    that lands while an answer is under way, at the moment the answer reads the index."""

    def __init__(self) -> None:
        super().__init__()
        self.on_query = None

    def embed_batch(self, texts, is_query):
        if is_query and self.on_query is not None:
            hook, self.on_query = self.on_query, None
            hook()
        return super().embed_batch(texts, is_query)


DATED = {
    "accord.txt": "La Zambie et la Chine signent un accord\n\nLe 20 décembre 2024, la Zambie "
    "et la Chine ont signé un accord sur le cuivre et l'intelligence artificielle.",
    "cuivre.txt": "Le cuivre zambien\n\nLe 5 décembre 2024, les mines de cuivre de Zambie ont "
    "annoncé une production record.",
    "sans-date.txt": "Un accord sans date\n\nLa Zambie et la Chine parlent de cuivre.",
}
PERIOD_QUESTION = "Quel accord la Zambie a-t-elle signé en décembre 2024 ?"


def test_an_upload_during_an_answer_leaves_that_answer_on_one_index(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DATED.items():
        (corpus / name).write_text(text, encoding="utf-8")
    embedder = HookedEmbedder()
    settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(corpus), llm="extractive")
    service = Service.open(settings.replace(min_relevance=0.0), embedder=embedder)
    upload = tmp_path / "autre-sans-date.txt"
    upload.write_text("Sans date\n\nLa Zambie et la Chine parlent encore de cuivre.", "utf-8")
    added = []
    embedder.on_query = lambda: added.extend(service.add_articles([upload])[0])

    answer = service.ask(PERIOD_QUESTION)

    assert added == ["autre-sans-date"]  # the upload happened while the answer was read
    # The answer's index held one undated article; the one uploaded meanwhile is not counted.
    assert answer.notice.startswith("1 article(s) sans date"), answer.notice
    assert "Zambie" in answer.text
    following = service.ask(PERIOD_QUESTION)  # the next answer reads the new index
    assert following.notice.startswith("2 article(s) sans date"), following.notice
    assert "autre-sans-date" in service.documents()


def test_an_upload_between_two_drafts_leaves_the_streaming_answer_whole(tmp_path):
    from rag.answering.answer import Answer, Draft

    sentence = "La ville de Brest a inauguré le supercalculateur Kerguelen."
    llm = ScriptedLLM(json_reply([{"text": sentence, "sources": [1]}]))
    service = open_service(tmp_path)
    service = Service.open(service.settings, embedder=service.embedder, llm=llm)
    upload = tmp_path / "quimper.txt"
    upload.write_text("Quimper ouvre un musée\n\nQuimper ouvre un musée de la faïence.", "utf-8")
    events = service.stream(QUESTION)
    assert isinstance(next(events), Draft)
    assert service.add_articles([upload])[0] == ["quimper"]  # another user's upload, mid-answer
    answer = list(events)[-1]

    assert isinstance(answer, Answer) and not answer.refused and answer.notice is None
    documents = service.documents()
    assert "quimper" in documents
    for source in answer.sources:  # citations still point into the articles as indexed
        assert documents[source.doc_id].text[source.start : source.end] == source.text


# --- uploads never overwrite --------------------------------------------------------------------


def test_an_upload_never_overwrites_an_article_or_an_earlier_upload(tmp_path):
    service = open_service(tmp_path)  # brest, lusaka, lyon
    texts = {
        "a": "Quimper ouvre un musée\n\nQuimper ouvre un musée de la faïence.",
        "b": "Quimper en fête\n\nQuimper accueille le festival de Cornouaille.",
        "c": "Brest et son port\n\nLe port de Brest accueille un nouveau chantier naval.",
        "d": "Quimper et la pluie\n\nIl pleut souvent à Quimper, disent les Brestois.",
    }
    files = {}
    for folder, text in texts.items():
        name = "brest.txt" if folder == "c" else "quimper.txt"  # Gradio keeps the user's name
        files[folder] = tmp_path / folder / name
        files[folder].parent.mkdir()
        files[folder].write_text(text, encoding="utf-8")

    assert service.add_articles([files["a"]]) == (["quimper"], [])
    assert service.add_articles([files["b"], files["c"]]) == (["quimper-2", "brest-2"], [])
    status, _ = handlers.upload(service, [str(files["d"])])

    assert status == f"✅ {plain('quimper-3')} ({plain('quimper.txt')})"  # Markdown-escaped
    uploads = tmp_path / "index" / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == [
        "brest-2.txt",
        "quimper-2.txt",
        "quimper-3.txt",
        "quimper.txt",
    ]
    documents = service.documents()
    assert "faïence" in documents["quimper"].text
    assert "Cornouaille" in documents["quimper-2"].text
    assert "chantier naval" in documents["brest-2"].text
    assert "supercalculateur" in documents["brest"].text  # the corpus article is untouched


# --- wrong passwords slow their client down ------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ten_wrong_passwords_meet_a_growing_wait():
    from rag.exposure import LoginThrottle

    clock = FakeClock()
    throttle = LoginThrottle(free=3, first=1.0, longest=300.0, clock=clock)
    waits = []
    for _ in range(10):
        assert throttle.wait("192.0.2.7") == 0  # the client waited its turn
        waits.append(throttle.failed("192.0.2.7"))
        clock.now += 0.5
        if waits[-1]:
            assert throttle.wait("192.0.2.7") == waits[-1] - 0.5  # too early: still waiting
        clock.now += waits[-1]
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 64, 128]
    assert throttle.wait("198.51.100.1") == 0  # another client is not slowed down
    throttle.failed("192.0.2.7")
    throttle.succeeded("192.0.2.7")  # a right password clears the count
    assert throttle.wait("192.0.2.7") == 0 and throttle.failed("192.0.2.7") == 0


@contextlib.contextmanager
def served_with_login(app, throttle) -> Iterator[str]:
    from ui.app import launch

    port = free_port()
    launch(app, "127.0.0.1", port, auth=[("ann", "secret")], block=False, throttle=throttle)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()


def test_the_served_login_slows_down_one_client_s_wrong_passwords(tmp_path):
    import httpx

    from rag.exposure import LoginThrottle
    from ui.app import build_app

    clock = FakeClock()
    throttle = LoginThrottle(free=3, first=1.0, clock=clock)
    service = open_service(tmp_path)
    with served_with_login(build_app(service), throttle) as url:
        here = httpx.Client(base_url=url, timeout=30)
        # Another client of the machine: the same server seen from 127.0.0.2.
        other = httpx.Client(
            base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        )

        def login(client, password):
            return client.post("/login", data={"username": "ann", "password": password})

        wrong, waits = 0, []
        for _ in range(40):  # bounded; each pass is a wrong password or a refusal to wait
            response = login(here, "guess")
            if response.status_code == 429:  # too early: the password was not checked
                waits.append(int(response.headers["retry-after"]))
                clock.now += waits[-1]
                continue
            assert response.status_code == 400
            wrong += 1
            if wrong == 10:
                break
        assert waits == [1, 2, 4, 8, 16, 32, 64]  # after the 3rd to the 9th wrong password
        assert login(here, "secret").status_code == 429  # even the right one must wait
        assert login(other, "secret").status_code == 200  # per client
        clock.now += 128
        assert login(here, "secret").status_code == 200
        assert login(here, "guess").status_code == 400  # the count started again
        assert login(here, "guess").status_code == 400


# --- uploads go with the server ------------------------------------------------------------------


def test_uploads_land_in_the_server_s_own_folder_and_go_with_it(tmp_path, monkeypatch):
    import os

    import httpx

    from ui.app import build_app, own_temp_dir

    service = open_service(tmp_path)
    operators = tmp_path / "not-made-yet" / "gradio"  # the operator's GRADIO_TEMP_DIR
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(operators))
    with own_temp_dir() as folder:
        assert folder.parent == operators
        with served(build_app(service)) as url:
            response = httpx.post(
                f"{url}/gradio_api/upload", files={"files": ("note.txt", b"Quimper.")}, timeout=30
            )
            (stored,) = response.json()
            assert Path(stored).is_file() and Path(stored).is_relative_to(folder)
    assert not folder.exists() and not Path(stored).exists()
    assert os.environ["GRADIO_TEMP_DIR"] == str(operators)  # the operator's setting is back


@pytest.mark.slow
def test_rag_serve_removes_its_uploads_when_stopped(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from tests.conftest import ROOT, stop

    port = free_port()
    log = open(tmp_path / "server.log", "w")  # a file: an unread pipe can fill and block
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--port", str(port), "--llm", "extractive"]
        + ["--index-dir", str(tmp_path / "index")],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("RAG_AUTH", "GRADIO_TEMP_DIR")},
            "PYTHONPATH": str(ROOT),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),  # where a stray upload would stay
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(480):  # bounded: at most four minutes (the first start builds the index)
            if process.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text())
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            raise AssertionError("the server did not start")
        response = httpx.post(
            f"http://127.0.0.1:{port}/gradio_api/upload",
            files={"files": ("note.txt", b"Quimper ouvre un musee.")},
            timeout=30,
        )
        (stored,) = response.json()
        assert Path(stored).is_file()
        process.send_signal(signal.SIGTERM)  # how a service manager stops it
        process.wait(timeout=60)
    finally:
        stop(process)
        log.close()
    assert not Path(stored).exists()
    assert [p for p in (tmp_path / "gradio").rglob("*") if p.is_file()] == []
