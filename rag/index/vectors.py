"""Where the chunk vectors are searched: FAISS in the index folder (the embedded default), or
Milvus (Milvus Lite in the index folder, or a Milvus cluster shared by several app replicas).

A backend is chosen by the `index_backend` setting (`RAG_INDEX_BACKEND`):
    faiss                      faiss.index in each generation folder
    milvus                     Milvus Lite: a milvus.db folder in each generation folder
    milvus:http://HOST:19530   a Milvus server or cluster: one collection per generation

Only the dense search of the chunks moves to the engine. BM25 (bm25s, with our French stemmer),
the sentence vectors used for evidence and the fusion stay in the generation folder and in
rag/answering/retrieval.py, so hybrid search is the same whichever engine answers the dense part.
Each generation writes its own vectors (a Milvus Lite folder or a cluster collection named
after the generation), so the previous index answers while the next one is built.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from rag import threads
from rag.config import BACKENDS, parse_backend  # noqa: F401 (re-exported)
from rag.errors import ConfigError, IndexStoreError

FAISS_FILE = "faiss.index"
MILVUS_LITE_FOLDER = "milvus.db"  # pymilvus starts Milvus Lite for a URI ending in .db
# Above this many chunks, an approximate HNSW index replaces exact search. Milvus Lite's exact
# search is NumPy behind gRPC, about 2 ms per 1,000 chunks here (scripts/bench_scale.py, 2 busy
# cores: 20k chunks 66 ms, 100k 200 ms against FAISS's 13 ms), so Milvus switches far earlier;
# seed-sized indexes stay exact in both, and give the same hits.
FLAT_INDEX_LIMIT = 200_000
MILVUS_FLAT_INDEX_LIMIT = 20_000
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
# Queries' search depth in HNSW: 98 % of the exact top 10 at 1M chunks, under a millisecond
# (docs/decisions/2026-11-26-faiss-hnsw-above-200k.md).
HNSW_EF_SEARCH = 256
INSERT_BATCH = 5_000  # rows per Milvus insert: ~8 MB of 384-d vectors, under gRPC's 64 MB cap
MAX_DOC_ID = 1_024  # characters of a doc_id Milvus stores (a file stem)


class VectorStore(Protocol):
    """The dense half of hybrid search: the nearest chunk rows to a query vector."""

    count: int

    def search(
        self,
        vector: np.ndarray,
        k: int,
        allowed_rows: np.ndarray | None = None,
        allowed_documents: set[str] | None = None,
    ) -> list[tuple[int, float]]:
        """The `k` best (row, inner product) pairs, best first; when a filter is given, only
        among those rows (FAISS) or those documents' chunks (Milvus): the Retriever passes
        both, each engine uses the one it can filter on."""


def index_kind(count: int, backend: str = "faiss") -> str:
    limit = FLAT_INDEX_LIMIT if backend == "faiss" else MILVUS_FLAT_INDEX_LIMIT
    return "flat-ip" if count <= limit else f"hnsw{HNSW_NEIGHBOURS}-ip"


def write_vectors(
    spec: str, folder: Path, generation: str, index_dir: Path, vectors: np.ndarray, doc_ids
) -> dict:
    """Write the chunk vectors for the generation being built in `folder`; the manifest's
    record of where they are."""
    backend, uri = parse_backend(spec)
    kind = index_kind(len(vectors), backend)
    if backend == "faiss":
        import faiss

        try:
            faiss.write_index(make_faiss_index(vectors), str(folder / FAISS_FILE))
        except RuntimeError as exc:  # FAISS tells a failed write in words: made an OSError
            causes = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS)
            code = next((c for c in causes if os.strerror(c) in str(exc)), errno.EIO)
            raise OSError(code, os.strerror(code), str(folder / FAISS_FILE)) from exc
        return {"backend": "faiss", "kind": kind}
    collection = "chunks" if uri is None else cluster_collection(index_dir, generation)
    target = str(folder / MILVUS_LITE_FOLDER) if uri is None else uri
    client = _milvus_client(target)
    try:
        _fill_collection(client, collection, vectors, doc_ids, kind)
    finally:
        _close_milvus(client, target if uri is None else None)
    record = {"backend": "milvus", "kind": kind, "collection": collection}
    if uri is not None:
        record["uri"] = uri
    return record


def open_vectors(record: dict, directory: Path, vectors: np.ndarray) -> VectorStore:
    """The store a generation's manifest record names (older manifests: FAISS)."""
    if record.get("backend", "faiss") == "faiss":
        import faiss

        index = faiss.read_index(str(directory / FAISS_FILE))
        if hasattr(index, "hnsw"):  # indexes written before efSearch was raised kept 96
            index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
        return FaissVectors(index, vectors)
    if record["backend"] == "milvus":
        if "uri" not in record and not (directory / MILVUS_LITE_FOLDER).is_dir():
            raise IndexStoreError(
                f"Index in {directory} lacks its {MILVUS_LITE_FOLDER}/: run `rag ingest --rebuild`."
            )
        uri = record.get("uri") or str(directory / MILVUS_LITE_FOLDER)
        return MilvusVectors(uri, record["collection"], len(vectors))
    raise IndexStoreError(
        f"Index in {directory} uses the vector backend {record['backend']!r}, which this "
        f"version does not know ({', '.join(BACKENDS)}): run `rag ingest --rebuild`."
    )


def required_files(record: dict) -> tuple[str, ...]:
    """The files of a generation that hold its vectors in this backend (checked at load)."""
    return (FAISS_FILE,) if record.get("backend", "faiss") == "faiss" else ()


# --- FAISS --------------------------------------------------------------------------------


def make_faiss_index(vectors: np.ndarray):
    """Exact inner product when small, HNSW when large (vectors are normalised: IP = cosine)."""
    import faiss

    threads.for_build()
    dimension = vectors.shape[1]
    if index_kind(len(vectors)) == "flat-ip":
        index = faiss.IndexFlatIP(dimension)
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    if len(vectors):
        index.add(vectors)
    return index


class FaissVectors:
    """A FAISS index read from the generation folder, and the vectors it was built from."""

    def __init__(self, index, vectors: np.ndarray) -> None:
        self.index = index
        self.vectors = vectors
        self.count = index.ntotal

    def search(self, vector, k, allowed_rows=None, allowed_documents=None):
        if allowed_rows is None:
            threads.for_search()
            scores, rows = self.index.search(vector[None, :], k)
            return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
        # Filtered: an exact scan of the allowed chunks, so that a narrow period is searched
        # as deep as the whole index would be.
        scores = np.asarray(self.vectors[allowed_rows]) @ vector
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(allowed_rows[i]), float(scores[i])) for i in top]


# --- Milvus -------------------------------------------------------------------------------


class MilvusVectors:
    """One Milvus collection whose primary key is the chunk's row in chunks.jsonl.

    Connected at the first search, not at load: an ingest loads the live generation to reuse
    its vectors (from vectors.npy) and must not take Milvus Lite's folder lock from the
    process that serves it.
    """

    def __init__(self, uri: str, collection: str, count: int) -> None:
        self.uri = uri
        self.collection = collection
        self.count = count
        self._client = None
        self._lock = threading.Lock()

    def search(self, vector, k, allowed_rows=None, allowed_documents=None):
        if not self.count or (allowed_documents is not None and not allowed_documents):
            return []
        options = {}
        if allowed_documents is not None:
            options["filter"] = "doc_id in [%s]" % ", ".join(
                json.dumps(d, ensure_ascii=False) for d in sorted(allowed_documents)
            )
        results = self._connected().search(
            self.collection,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            limit=k,
            search_params={"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, k)}},
            output_fields=[],
            **options,
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in results[0]]

    def _connected(self):
        with self._lock:
            if self._client is None:
                client = _milvus_client(self.uri)
                try:
                    client.load_collection(self.collection)  # a reopened one starts released
                    rows = client.get_collection_stats(self.collection).get("row_count")
                except Exception as exc:
                    raise IndexStoreError(
                        f"Milvus at {self.uri} cannot open the collection {self.collection} "
                        f"({type(exc).__name__}: {exc}): run `rag ingest --rebuild`."
                    ) from exc
                if rows is not None and int(rows) != self.count:
                    raise IndexStoreError(
                        f"Milvus collection {self.collection} at {self.uri} holds {rows} "
                        f"vectors, the index {self.count} chunks: run `rag ingest --rebuild`."
                    )
                self._client = client
            return self._client


def cluster_collection(index_dir: Path, generation: str) -> str:
    """A generation's collection on a shared server: named after the index folder (several
    indexes may share one cluster) and the generation (the previous one stays searchable)."""
    return f"{cluster_prefix(index_dir)}{re.sub(r'[^A-Za-z0-9_]', '_', generation)}"


def cluster_prefix(index_dir: Path) -> str:
    folder = str(Path(index_dir).resolve())
    return f"rag_{hashlib.sha1(folder.encode()).hexdigest()[:10]}_"


def drop_stale_collections(uri: str, index_dir: Path, keep: str) -> None:
    """Drop this index folder's collections on a server other than the live one (older
    generations, and those of ingests killed before they went live)."""
    client = _milvus_client(uri)
    try:
        prefix = cluster_prefix(index_dir)
        for name in client.list_collections():
            if name.startswith(prefix) and name != keep:
                client.drop_collection(name)
    finally:
        client.close()


def release_lite(folder: Path) -> None:
    """Stop this process's Milvus Lite server on a generation about to be deleted (it holds
    the folder's lock and a thread; nothing else would stop it before the process ends)."""
    lite = sys.modules.get("milvus_lite.server_manager")
    if lite is not None and (folder / MILVUS_LITE_FOLDER).exists():
        lite.server_manager_instance.release_server(str(folder / MILVUS_LITE_FOLDER))


def _milvus_client(uri: str):
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise ConfigError(
            "The Milvus backend needs pymilvus and milvus-lite: pip install -e '.[milvus]'."
        ) from exc
    try:
        return MilvusClient(uri=uri)
    except Exception as exc:  # pymilvus raises its own errors for a server that is not there
        raise IndexStoreError(
            f"Cannot reach Milvus at {uri} ({type(exc).__name__}: {exc}): start it, or set "
            "RAG_INDEX_BACKEND=faiss and run `rag ingest --rebuild`."
        ) from exc


def _close_milvus(client, lite_folder: str | None) -> None:
    client.close()
    if lite_folder is not None:  # releases the folder's lock before it is renamed
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(lite_folder)


def _fill_collection(client, collection: str, vectors: np.ndarray, doc_ids, kind: str) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
    index_params = client.prepare_index_params()
    if kind == "flat-ip":
        index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    else:
        index_params.add_index(
            field_name="vector",
            index_type="HNSW",
            metric_type="IP",
            params={"M": HNSW_NEIGHBOURS, "efConstruction": HNSW_EF_CONSTRUCTION},
        )
    index_params.add_index(field_name="doc_id", index_type="INVERTED")  # for period filters
    if client.has_collection(collection):  # left by a killed ingest of the same generation
        client.drop_collection(collection)
    client.create_collection(collection, schema=schema, index_params=index_params)
    doc_ids = list(doc_ids)
    for start in range(0, len(vectors), INSERT_BATCH):
        block = np.asarray(vectors[start : start + INSERT_BATCH], dtype=np.float32)
        client.insert(
            collection,
            [
                {"id": start + i, "doc_id": doc_ids[start + i], "vector": row}
                for i, row in enumerate(block)
            ],
        )
    client.flush(collection)
