"""Wiring for the CLI and the UI: ingest a folder, open (or rebuild) the index, build a pipeline."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from rag.answer import AnswerPipeline
from rag.config import Settings
from rag.corpus import SUPPORTED_SUFFIXES, LoadResult, Skipped, load_corpus, load_document
from rag.embedders import Embedder, get_embedder
from rag.errors import CorpusError, IndexStoreError
from rag.llms import LLM, get_llm
from rag.retrieval import Retriever
from rag.store import Index, IngestReport, build_index, load_index

log = logging.getLogger(__name__)

UPLOADS = "uploads"


def ingest(
    settings: Settings,
    folder: str | Path | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[IngestReport, LoadResult]:
    """Load the article folder (and the uploaded articles) and bring the index up to date."""
    loaded = load_articles(settings, folder)
    embedder = embedder or get_embedder(settings.embedder)
    report = build_index(
        loaded.documents,
        embedder,
        settings.index_dir,
        settings.chunk_size,
        settings.chunk_overlap,
        rebuild=rebuild,
        progress=progress,
    )
    return report, loaded


def uploads_dir(settings: Settings) -> Path:
    """Articles added from the browser live beside the index, never in the corpus folder."""
    return Path(settings.index_dir) / UPLOADS


def load_articles(settings: Settings, folder: str | Path | None = None) -> LoadResult:
    """The corpus folder plus the uploaded articles; a corpus article wins a name clash."""
    loaded = load_corpus(folder or settings.corpus_dir)
    if not uploads_dir(settings).is_dir():
        return loaded
    uploaded = load_corpus(uploads_dir(settings))
    known = {d.doc_id for d in loaded.documents}
    documents = list(loaded.documents)
    skipped = loaded.skipped + uploaded.skipped
    for document in uploaded.documents:
        if document.doc_id in known:
            skipped.append(Skipped(document.path, f"{document.doc_id} is already in the corpus"))
        else:
            documents.append(document)
    return LoadResult(documents, skipped)


def add_articles(
    settings: Settings,
    paths: list[str | Path],
    embedder: Embedder,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[str], list[Skipped]]:
    """Check uploaded files, keep the good ones, re-index incrementally.

    Returns the doc_ids added (or replaced) and the files refused, each with its reason.
    A refused file never reaches the uploads folder, so it cannot break a later ingest.
    """
    target = uploads_dir(settings)
    corpus_ids = {d.doc_id for d in load_corpus(settings.corpus_dir).documents}
    added, refused = [], []
    for path in map(Path, paths):
        name = path.name
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            refused.append(Skipped(name, f"{name}: only .txt, .md and .html articles are taken."))
            continue
        try:
            document = load_document(path, doc_id=path.stem)
        except CorpusError as exc:
            refused.append(Skipped(name, str(exc)))
            continue
        if document.doc_id in corpus_ids:
            refused.append(
                Skipped(
                    name,
                    f"{name}: an article named {path.stem} is already in the corpus; "
                    "rename the file to add it.",
                )
            )
            continue
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".{name}.part"
        shutil.copyfile(path, partial)
        os.replace(partial, target / name)
        added.append(document.doc_id)
    if added:
        ingest(settings, embedder=embedder, progress=progress)
    return added, refused


def open_index(settings: Settings, embedder: Embedder, notify=log.warning) -> Index:
    """Load the index; when it is missing, damaged or built otherwise, rebuild it and say so."""
    try:
        index = load_index(settings.index_dir)
        if index.embedder_id == embedder.id:
            return index
        problem = f"the index was built with {index.embedder_id}, not {embedder.id}"
    except IndexStoreError as exc:
        problem = str(exc)
    notify(f"{problem} — building the index from {settings.corpus_dir}/ now.")
    with tqdm(desc="embedding", unit="text", disable=not sys.stderr.isatty()) as bar:
        ingest(settings, rebuild=True, embedder=embedder, progress=bar.update)
    return load_index(settings.index_dir)


def make_pipeline(
    settings: Settings, llm: LLM | None = None, embedder: Embedder | None = None, notify=None
) -> AnswerPipeline:
    """The default pipeline for `settings`; the LLM loads once, here."""
    embedder = embedder or get_embedder(settings.embedder)
    index = open_index(settings, embedder, notify or log.warning)
    return AnswerPipeline(
        Retriever(index, embedder), llm or get_llm(settings.llm, settings), settings
    )
