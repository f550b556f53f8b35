"""The persisted index: FAISS vectors + BM25 + chunks + manifest, written atomically.

Layout under the index folder:
    CURRENT            name of the live generation (replaced atomically, last step of an ingest)
    sources.json       where the articles come from (folders, uploads), beside the generations
                       so that a damaged generation can be rebuilt from the right folder
    embed-cache.sqlite the vectors of an ingest under way, so a killed one resumes
                       (rag/index/embed_cache.py); deleted once the new generation is live
    .ingest.lock       held by the ingest under way (one at a time per index)
    gen-*/             one complete index: manifest.json, chunks.jsonl, documents.jsonl,
                       vectors.npy, bm25/, and the chunk vectors' search index: faiss.index,
                       or milvus.db/ (Milvus Lite), or a collection on a Milvus server
                       (rag/index/vectors.py; the manifest's "vectors" record says which)
An ingest writes a new generation in a temporary folder, renames it, then flips CURRENT, so a
killed ingest leaves the previous generation live and untouched.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import IndexStoreError
from rag.index.embed_cache import EmbeddingCache, remove_cache, text_key
from rag.index.embedders import Embedder
from rag.index.vectors import (
    VectorStore,
    drop_stale_collections,
    index_kind,
    open_vectors,
    parse_backend,
    release_lite,
    required_files,
    write_vectors,
)
from rag.ingest.chunking import (
    Chunk,
    chunk_document,
    section_headings,
    split_sentences,
    with_heading,
)
from rag.ingest.corpus import Document
from rag.text import bm25_tokenize

log = logging.getLogger(__name__)

# 2: BM25 indexes each chunk with its article title; 3: sentences embedded with their heading
FORMAT_VERSION = 3
POINTER = "CURRENT"
SOURCES = "sources.json"
REQUIRED_FILES = (
    "manifest.json",
    "chunks.jsonl",
    "documents.jsonl",
    "sentences.jsonl",
    "vectors.npy",
    "sentence_vectors.npy",
)


@dataclass
class Index:
    """A loaded index: everything retrieval needs, in memory."""

    directory: Path
    manifest: dict
    chunks: list[Chunk]
    documents: dict[str, Document]
    vectors: np.ndarray
    vector_store: VectorStore  # the dense search of the chunks (FAISS or Milvus)
    bm25: object
    sentences: list[tuple[str, int, int]]  # (doc_id, start, end), grouped by document
    sentence_vectors: np.ndarray

    @property
    def embedder_id(self) -> str:
        return self.manifest["embedder"]


@dataclass
class IngestReport:
    """What an ingest did, for the CLI and the UI."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    embedded_chunks: int = 0
    total_chunks: int = 0
    embedded_texts: int = 0  # chunks and sentences sent to the embedder
    cached_texts: int = 0  # found in the embedding cache of an interrupted ingest
    seconds: float = 0.0
    generation: str = ""

    def summary(self) -> str:
        resumed = f", {self.cached_texts} from a killed ingest's cache" if self.cached_texts else ""
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged; embedded {self.embedded_chunks} of "
            f"{self.total_chunks} chunks ({self.embedded_texts} texts with their sentences"
            f"{resumed}) in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Sources:
    """Where an index's articles come from: the folders ingested, the uploaded files (in the
    index's `uploads/`), how many articles the index held, the URLs of the web pages saved in
    its `web/`, and the feeds they came from."""

    folders: list[str]
    uploads: list[str]
    documents: int
    web: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def read_manifest(index_dir: str | Path) -> dict | None:
    """The live generation's manifest, or None when it cannot be read."""
    index_dir = Path(index_dir)
    try:
        name = (index_dir / POINTER).read_text(encoding="utf-8").strip()
        manifest = json.loads((index_dir / name / "manifest.json").read_text(encoding="utf-8"))
        return manifest if isinstance(manifest, dict) else None
    except (OSError, ValueError):
        return None


def backend_of(manifest: dict) -> str:
    """The `index_backend` setting that built an index (FAISS for an older manifest)."""
    record = manifest.get("vectors") or {}
    if record.get("backend") == "milvus":
        return f"milvus:{record['uri']}" if record.get("uri") else "milvus"
    return "faiss"


def read_sources(index_dir: str | Path) -> Sources | None:
    """Where the index's articles come from: the live manifest says, else `sources.json`
    (kept beside the generations, so it survives a damaged one); None if neither does."""
    index_dir = Path(index_dir)
    records = [(read_manifest(index_dir) or {}).get("sources")]
    try:
        records.append(json.loads((index_dir / SOURCES).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    for record in records:
        try:
            return Sources(
                folders=[str(f) for f in record["folders"]],
                uploads=[str(u) for u in record.get("uploads", [])],
                documents=int(record["documents"]),
                web=[str(u) for u in record.get("web", [])],
                feeds=[str(u) for u in record.get("feeds", [])],
            )
        except (TypeError, KeyError, ValueError):
            continue
    return None


def has_index(index_dir: str | Path) -> bool:
    """Whether anything of an index is here (a pointer, a generation or a sources record)."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return False
    return any(
        p.name in (POINTER, SOURCES) or p.name.startswith("gen-") for p in index_dir.iterdir()
    )


def build_index(
    documents: list[Document],
    embedder: Embedder,
    index_dir: str | Path,
    chunk_size: int,
    chunk_overlap: int,
    rebuild: bool = False,
    progress=None,
    sources: Sources | None = None,
    article_progress: Callable[[str, int, int], None] | None = None,
    backend: str = "",
) -> IngestReport:
    """Write a new generation for `documents`, re-embedding only new or changed ones.

    Chunks are the retrieval unit; every sentence is embedded too, so that evidence selection
    at question time is a dot product instead of a model call. `progress(n)` is called with
    the number of texts embedded by each batch; `article_progress(stage, done, total)` counts
    the articles chunked, then embedded. `sources` is recorded in the manifest and in
    `sources.json`. `backend` says which engine searches the chunk vectors (rag/index/vectors.py;
    "" keeps the live generation's, FAISS for a new index); changing it re-embeds nothing.
    """
    backend = backend or backend_of(read_manifest(index_dir) or {})
    parse_backend(backend)  # a wrong setting fails before any work
    started = time.perf_counter()
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = None if rebuild else _reusable(index_dir, embedder.id, chunk_size, chunk_overlap)
    old_hashes = previous.manifest["documents"] if previous else {}
    report = IngestReport()
    report.removed = sorted(set(old_hashes) - {doc.doc_id for doc in documents})

    previous_rows = _rows_by_document(previous) if previous else {}
    parts: dict[str, _DocumentPart] = {}
    pending: list[_DocumentPart] = []
    fresh = [doc for doc in documents if old_hashes.get(doc.doc_id) != doc.content_hash]
    for doc in documents:
        if old_hashes.get(doc.doc_id) == doc.content_hash:
            report.unchanged.append(doc.doc_id)
            parts[doc.doc_id] = _DocumentPart.reused(previous, previous_rows, doc.doc_id)
            continue
        (report.changed if doc.doc_id in old_hashes else report.added).append(doc.doc_id)
        part = _DocumentPart.fresh(doc, chunk_size, chunk_overlap)
        parts[doc.doc_id] = part
        pending.append(part)
        if article_progress:
            article_progress("chunking", len(pending), len(fresh))

    texts = [text for part in pending for text in part.texts()]
    # Before any embedding: a full disk found after hours of it costs those hours.
    needed = space_needed(list(parts.values()), documents, embedder.dimension, len(texts))
    check_space(index_dir, needed)
    cache = EmbeddingCache(index_dir, embedder.id)
    try:
        vectors = _embed_cached(
            texts, embedder, cache, report, _per_article(pending, progress, article_progress)
        )
    finally:
        cache.close()
    offset = 0
    for part in pending:
        offset = part.take_vectors(vectors, offset)
    report.embedded_chunks = sum(len(part.chunks) for part in pending)

    ordered = [parts[doc.doc_id] for doc in documents]
    chunks = [c for part in ordered for c in part.chunks]
    report.total_chunks = len(chunks)
    manifest = {
        "format_version": FORMAT_VERSION,
        "embedder": embedder.id,
        "dimension": embedder.dimension,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "faiss": index_kind(len(chunks)),  # the kind of index, whichever engine holds it
        "documents": {doc.doc_id: doc.content_hash for doc in documents},
        "chunks": len(chunks),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if sources is not None:
        manifest["sources"] = dataclasses.replace(sources, documents=len(documents)).to_dict()
    report.generation = _write_generation(
        index_dir,
        backend,
        manifest,
        chunks,
        documents,
        _stack([p.chunk_vectors for p in ordered], embedder.dimension),
        [s for part in ordered for s in part.sentences],
        _stack([p.sentence_vectors for p in ordered], embedder.dimension),
        needed,
    )
    if sources is not None:
        try:
            _write_atomically(index_dir / SOURCES, json.dumps(manifest["sources"], indent=1))
        except OSError as exc:  # the live manifest records the sources too
            log.warning("Could not write %s (%s).", index_dir / SOURCES, exc.strerror or exc)
    remove_cache(index_dir)  # the live generation holds its vectors
    report.seconds = time.perf_counter() - started
    return report


CACHE_BATCH = 256  # texts embedded between two commits to the cache


def _embed_cached(
    texts: list[str], embedder: Embedder, cache: EmbeddingCache, report: IngestReport, progress
) -> np.ndarray:
    """Vectors for `texts`: each distinct text embedded once, those in the cache not at all,
    and the rest committed to the cache batch by batch as they come.

    The texts left are sorted by length across the whole ingest (batches of alike lengths
    pad less), which is why `progress` counts texts, not articles, in order.
    """
    keys = [text_key(text) for text in texts]
    copies = Counter(keys)
    known = cache.get(keys, embedder.dimension if texts else None)
    missing = list({key: text for key, text in zip(keys, texts) if key not in known}.items())
    missing.sort(key=lambda item: len(item[1]))
    report.cached_texts = len(known)  # distinct texts, as embedded_texts counts them
    if progress and known:
        progress(sum(copies[key] for key in known))
    embedded = len(missing)
    for start in range(0, len(missing), CACHE_BATCH):
        part = missing[start : start + CACHE_BATCH]
        vectors = embedder.embed_documents([text for _, text in part])
        cache.put([key for key, _ in part], vectors)
        known.update(zip((key for key, _ in part), vectors))
        if progress:  # a text found in several places counts once for each
            progress(sum(copies[key] for key, _ in part))
    report.embedded_texts = embedded
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack([known[key] for key in keys]).astype(np.float32, copy=False)


def _per_article(pending: list, progress, article_progress):
    """A `progress(n texts)` callback that also reports articles embedded: texts are embedded
    sorted by length, not article by article, so this is the share of the texts done, in
    articles (what the bar's articles per second and ETA need)."""
    if not article_progress:
        return progress
    total_texts = sum(len(p.chunks) + len(p.sentences) for p in pending)
    state = {"texts": 0, "articles": 0}

    def update(count: int) -> None:
        if progress:
            progress(count)
        state["texts"] += count
        done = len(pending) * min(state["texts"], total_texts) // max(total_texts, 1)
        if done != state["articles"]:
            state["articles"] = done
            article_progress("embedding", done, len(pending))

    return update


@dataclass
class _DocumentPart:
    """One document's chunks and sentences with their vectors, new or reused."""

    chunks: list[Chunk]
    sentences: list[tuple[str, int, int]]  # (doc_id, start, end)
    chunk_vectors: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None
    document: Document | None = None

    @classmethod
    def reused(cls, index: Index, rows: dict[str, tuple[list[int], list[int]]], doc_id: str):
        chunk_rows, sentence_rows = rows[doc_id]
        return cls(
            chunks=[index.chunks[i] for i in chunk_rows],
            sentences=[index.sentences[i] for i in sentence_rows],
            chunk_vectors=np.asarray(index.vectors[chunk_rows]),
            sentence_vectors=np.asarray(index.sentence_vectors[sentence_rows]),
        )

    @classmethod
    def fresh(cls, doc: Document, chunk_size: int, chunk_overlap: int) -> _DocumentPart:
        spans = split_sentences(doc.text)
        return cls(
            chunks=chunk_document(doc, chunk_size, chunk_overlap),
            sentences=[(doc.doc_id, start, end) for start, end in spans],
            document=doc,
        )

    def texts(self) -> list[str]:
        """What is embedded: the chunks, then each sentence with its section heading (seed
        questions: the passage holding the answer in the first four evidence passages for
        26 of 28 questions instead of 25; PIAF paragraphs have no headings)."""
        text = self.document.text
        headings = section_headings(text)
        sentences = [with_heading(text, start, end, headings) for _, start, end in self.sentences]
        return [c.text for c in self.chunks] + sentences

    def take_vectors(self, vectors: np.ndarray, offset: int) -> int:
        middle = offset + len(self.chunks)
        end = middle + len(self.sentences)
        self.chunk_vectors = vectors[offset:middle]
        self.sentence_vectors = vectors[middle:end]
        return end


def _rows_by_document(index: Index) -> dict[str, tuple[list[int], list[int]]]:
    """Each document's chunk rows and sentence rows, in one pass over the index."""
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for row, chunk in enumerate(index.chunks):
        rows.setdefault(chunk.doc_id, ([], []))[0].append(row)
    for row, (doc_id, _start, _end) in enumerate(index.sentences):
        rows.setdefault(doc_id, ([], []))[1].append(row)
    return rows


def space_needed(parts: list, documents: list[Document], dimension: int, new_texts: int) -> int:
    """About how many bytes an ingest writes: the generation's vectors (.npy files and FAISS),
    its chunk text (chunks.jsonl and BM25), its documents, and the new texts' vectors in the
    embedding cache (with SQLite's journal)."""
    chunks = [chunk for part in parts for chunk in part.chunks]
    sentences = sum(len(part.sentences) for part in parts)
    vectors = 4 * dimension * (2 * len(chunks) + sentences + 2 * new_texts)
    text = 2 * sum(len(chunk.text.encode()) for chunk in chunks)
    text += sum(len(doc.text.encode()) for doc in documents)
    return vectors + text + RECORD_BYTES * (len(chunks) + sentences + len(documents))


RECORD_BYTES = 400  # a chunk's, sentence's or document's JSON fields besides its text


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds `folder`, in bytes."""
    return shutil.disk_usage(folder).free


def check_space(index_dir: Path, needed: int) -> None:
    """Refuse, before any work, an ingest that the free space cannot hold."""
    free = free_bytes(index_dir)
    if free < needed:
        raise IndexStoreError(
            f"Not enough disk space for the new index in {index_dir}/: about {_mb(needed)} "
            f"needed, {_mb(free)} free. Nothing was changed and the index in use still answers: "
            "free some space (or use --index-dir on another disk) and run the ingest again."
        )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _stack(parts: list[np.ndarray], dimension: int) -> np.ndarray:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


def load_index(index_dir: str | Path) -> Index:
    """Load the live generation, checking it is complete and self-consistent."""
    index_dir = Path(index_dir)
    pointer = index_dir / POINTER
    if not pointer.is_file():
        raise IndexStoreError(f"No index in {index_dir}/: run `rag ingest` to build it.")
    directory = index_dir / pointer.read_text(encoding="utf-8").strip()
    try:
        record = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))["vectors"]
    except (OSError, ValueError, KeyError, TypeError):
        record = {}  # a manifest written before rag/index/vectors.py: FAISS (or damaged: see below)
    required = REQUIRED_FILES + required_files(record)
    missing = [name for name in required if not (directory / name).is_file()]
    if missing or not (directory / "bm25").is_dir():
        raise IndexStoreError(
            f"Index in {directory} is incomplete (missing {missing or ['bm25/']}): "
            "run `rag ingest --rebuild`."
        )
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexStoreError(
                f"Index in {directory} has format {manifest.get('format_version')}, this version "
                f"reads {FORMAT_VERSION}: run `rag ingest --rebuild`."
            )
        for name, size in manifest.get("sizes", {}).items():
            if (directory / name).stat().st_size != size:
                raise IndexStoreError(
                    f"Index file {directory / name} is truncated or altered: "
                    "run `rag ingest --rebuild`."
                )
        chunks = [Chunk(**json.loads(line)) for line in _lines(directory / "chunks.jsonl")]
        documents = {}
        for line in _lines(directory / "documents.jsonl"):
            doc = Document(**json.loads(line))
            documents[doc.doc_id] = doc
        vectors = np.load(directory / "vectors.npy", mmap_mode="r")
        sentences = [tuple(json.loads(line)) for line in _lines(directory / "sentences.jsonl")]
        sentence_vectors = np.load(directory / "sentence_vectors.npy", mmap_mode="r")
        vector_store = open_vectors(manifest.get("vectors", {}), directory, vectors)
        bm25 = _load_bm25(directory / "bm25", len(chunks))
    except IndexStoreError:
        raise
    except Exception as exc:  # any parse error means a damaged index, whatever raised it
        raise IndexStoreError(
            f"Index in {directory} is damaged ({type(exc).__name__}: {exc}): "
            "run `rag ingest --rebuild`."
        ) from exc
    counts = {len(chunks), vectors.shape[0], vector_store.count, manifest["chunks"]}
    if len(counts) != 1 or len(sentences) != sentence_vectors.shape[0]:
        raise IndexStoreError(
            f"Index in {directory} is inconsistent (chunk counts {sorted(counts)}): "
            "run `rag ingest --rebuild`."
        )
    return Index(
        directory=directory,
        manifest=manifest,
        chunks=chunks,
        documents=documents,
        vectors=vectors,
        vector_store=vector_store,
        bm25=bm25,
        sentences=sentences,
        sentence_vectors=sentence_vectors,
    )


def check_embedder(index: Index, embedder_id: str, dimension: int | None = None) -> None:
    """Refuse to query an index with another embedder than the one that built it, or with one
    of the same name whose vectors have another size (a remote server now serving another
    model under that name)."""
    if index.embedder_id != embedder_id:
        raise IndexStoreError(
            f"The index was built with {index.embedder_id}, asked for {embedder_id}: "
            f"run `rag ingest --rebuild` (or use --embedder {index.embedder_id})."
        )
    expected = index.manifest.get("dimension")
    if dimension is not None and expected and dimension != expected:
        raise IndexStoreError(
            f"The index was built with {embedder_id} giving {expected}-dimensional vectors, "
            f"and {embedder_id} now gives {dimension}: another model answers under that name. "
            "Serve the model the index was built with, or run `rag ingest --rebuild`."
        )


# --- helpers -------------------------------------------------------------------------------


def _reusable(index_dir: Path, embedder_id: str, chunk_size: int, chunk_overlap: int):
    """The live generation when its chunks and vectors can be reused, else None."""
    try:
        index = load_index(index_dir)
    except IndexStoreError as exc:
        if (index_dir / POINTER).exists():
            log.warning("%s Building a fresh index.", exc)
        return None
    manifest = index.manifest
    same = (
        manifest["embedder"] == embedder_id
        and manifest["chunk_size"] == chunk_size
        and manifest["chunk_overlap"] == chunk_overlap
    )
    if not same:
        log.warning("Index settings changed (embedder or chunking): re-embedding everything.")
    return index if same else None


def bm25_text(chunk: Chunk) -> str:
    """What BM25 indexes: the chunk with its article's title, which names what every chunk of
    the article is about (docs/decisions/2026-11-26-hybrid-retrieval-fusion.md)."""
    if chunk.title and chunk.title not in chunk.text:
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


def _write_bm25(directory: Path, chunks: list[Chunk]) -> None:
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG when imported
    retriever = bm25s.BM25()
    if chunks:
        retriever.index(bm25_tokenize([bm25_text(c) for c in chunks]), show_progress=False)
        retriever.save(str(directory))
    else:
        directory.mkdir()


def _load_bm25(directory: Path, count: int):
    import bm25s

    if count == 0:
        return None
    return bm25s.BM25.load(str(directory))


def _write_generation(
    index_dir, backend, manifest, chunks, documents, vectors, sentences, sentence_vectors, needed
) -> str:
    """Write the generation in a temporary folder, rename it, flip CURRENT; on any failure,
    remove what was written (the live generation is untouched) and, for an OS error such as
    a full disk, raise an IndexStoreError that says what failed and how much space it needs."""
    temporary = index_dir / f".tmp-{uuid.uuid4().hex[:8]}"
    # Named first: a Milvus server's collection is named after its generation.
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    step = "the new generation's folder"
    try:
        temporary.mkdir()
        step = "chunks.jsonl"
        _write_lines(temporary / step, (c.to_dict() for c in chunks))
        step = "documents.jsonl"
        _write_lines(temporary / step, (asdict(d) for d in documents))
        step = "sentences.jsonl"
        _write_lines(temporary / step, (list(s) for s in sentences))
        step = "vectors.npy"
        np.save(temporary / step, vectors)
        step = "sentence_vectors.npy"
        np.save(temporary / step, sentence_vectors)
        step = "the chunk vectors' search index"
        manifest["vectors"] = write_vectors(
            backend, temporary, name, index_dir, vectors, [c.doc_id for c in chunks]
        )
        step = "bm25/"
        _write_bm25(temporary / "bm25", chunks)
        manifest["sizes"] = {
            name: (temporary / name).stat().st_size
            for name in REQUIRED_FILES + required_files(manifest["vectors"])
            if name != "manifest.json"
        }
        step = "manifest.json"
        (temporary / step).write_text(json.dumps(manifest, indent=1), "utf-8")
        os.replace(temporary, index_dir / name)
        step = POINTER
        _set_pointer(index_dir, name)
    except BaseException as exc:
        for folder in (temporary, index_dir / name):
            release_lite(folder)
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError):
            raise IndexStoreError(_write_failure(exc, step, index_dir, needed)) from exc
        raise
    _collect_garbage(index_dir, keep=name)
    uri = manifest["vectors"].get("uri")
    if uri is not None:
        try:
            drop_stale_collections(uri, index_dir, keep=manifest["vectors"]["collection"])
        except Exception as exc:  # the new generation is live; old collections only cost space
            log.warning("Could not drop the older generations' collections at %s: %s", uri, exc)
    return name


def _write_failure(exc: OSError, step: str, index_dir: Path, needed: int) -> str:
    """One line: what failed, where, the space needed and free, and that nothing changed."""
    cause, fix = exc.strerror or str(exc), "fix this"
    space = ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        space = f" (about {_mb(needed)} needed, {_mb(free_bytes(index_dir))} free)"
        fix = "free some space (or use --index-dir on another disk)"
    return (
        f"{cause} while writing {step} of the new index in {index_dir}/{space}. Nothing was "
        f"changed and the index in use still answers: {fix} and run the ingest again."
    )


def _set_pointer(index_dir: Path, name: str) -> None:
    _write_atomically(index_dir / POINTER, name)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:6]}"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _collect_garbage(index_dir: Path, keep: str) -> None:
    """Drop older generations and leftovers of killed ingests."""
    for path in index_dir.iterdir():
        stale = path.name.startswith("gen-") and path.name != keep
        leftover = path.name.startswith((".tmp-", f".{POINTER}.", f".{SOURCES}."))
        if stale or leftover:
            if path.is_dir():
                release_lite(path)
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _write_lines(path: Path, records) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _lines(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line
