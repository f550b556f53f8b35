"""Wiring for the CLI and the UI: ingest a folder, open (or rebuild) the index, build a pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from rag.answer import AnswerPipeline
from rag.config import Settings
from rag.corpus import LoadResult, load_corpus
from rag.embedders import Embedder, get_embedder
from rag.errors import IndexStoreError
from rag.llms import LLM, get_llm
from rag.retrieval import Retriever
from rag.store import Index, IngestReport, build_index, load_index

log = logging.getLogger(__name__)


def ingest(
    settings: Settings,
    folder: str | Path | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[IngestReport, LoadResult]:
    """Load the article folder and bring the index up to date with it."""
    loaded = load_corpus(folder or settings.corpus_dir)
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
    ingest(settings, rebuild=True, embedder=embedder)
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
