"""The index kept up to date: ingest folders, add uploaded articles, open (or repair) the index."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rag.config import Settings
from rag.errors import CorpusError, IndexStoreError
from rag.index.embedders import Embedder, get_embedder
from rag.index.locks import ingest_lock
from rag.index.progress import TerminalProgress
from rag.index.store import (
    Index,
    IngestReport,
    Sources,
    build_index,
    has_index,
    load_index,
    read_manifest,
    read_sources,
)
from rag.ingest.corpus import (
    SUPPORTED_SUFFIXES,
    Limits,
    LoadResult,
    Skipped,
    load_corpus,
    load_document,
)
from rag.ingest.web import Fetched, WebStore, fetch_feeds, fetch_pages, read_feed_state

log = logging.getLogger(__name__)

UPLOADS = "uploads"
# An ingest from other folders than the index's own that would keep fewer than this share of
# its articles needs `--replace`: `rag ingest OTHER` on a 205-article index left 5.
SHRINK_LIMIT = 0.5

# progress(stage, done, total): "reading", "chunking", "embedding" articles
Progress = Callable[[str, int, int], None]


def ingest(
    settings: Settings,
    folder: str | Path | list[str | Path] | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    replace: bool = False,
    notify: Callable[[str], None] = log.warning,
    urls: list[str] | None = None,
    feeds: list[str] | None = None,
) -> tuple[IngestReport, LoadResult]:
    """Load the article folder(s), the uploaded articles and the saved web pages, and bring
    the index up to date; `urls` and the new items of `feeds` are fetched and saved first.

    Without `folder`, the folders the index was built from (else `settings.corpus_dir`, or
    none when only web pages are asked for). One ingest at a time per index: a second one
    waits for the first (and then finds little left to embed). Refuses, unless `replace`, to
    let other folders shrink the index a lot. When only feeds or URLs are given and nothing
    new came of them, the index is left as it is (a feed polled from cron costs one download).
    """
    with ingest_lock(settings.index_dir, notify):
        fetched = _fetch(settings, urls or [], feeds or [], progress)
        web_only = folder is None and (urls or feeds)
        manifest = read_manifest(settings.index_dir) or {}
        saved = {Path(name).stem for name in WebStore(settings.index_dir).records}
        indexed = saved <= set(manifest.get("documents", {}))  # no page left out by a crash
        if web_only and not fetched.added and not rebuild and manifest and indexed:
            report = IngestReport(
                unchanged=sorted(manifest["documents"]), total_chunks=manifest["chunks"]
            )
            return report, LoadResult([], fetched.skipped)
        if folder is not None:
            folders = _as_list(folder)
        elif web_only and read_sources(settings.index_dir) is None:
            if not WebStore(settings.index_dir).records:
                reasons = "; ".join(s.reason for s in fetched.skipped)
                raise CorpusError(f"Nothing to index, no index was written: {reasons}")
            folders = []  # a new index of web pages only
        else:
            folders = source_folders(settings)
        loaded = load_articles(settings, folders, progress)
        loaded = LoadResult(loaded.documents, fetched.skipped + loaded.skipped)
        if not replace:
            check_shrink(settings.index_dir, folders, loaded)
        return _build(settings, folders, loaded, rebuild, embedder, progress), loaded


def _fetch(settings: Settings, urls: list[str], feeds: list[str], progress) -> Fetched:
    """Save the pages of `urls` and the new items of `feeds` beside the index."""
    fetched = fetch_pages(WebStore(settings.index_dir), urls, progress=progress)
    if feeds:
        from_feeds = fetch_feeds(settings.index_dir, feeds, progress=progress)
        fetched.added += from_feeds.added
        fetched.known += from_feeds.known
        fetched.skipped += from_feeds.skipped
    return fetched


def _as_list(folder) -> list[str]:
    return [str(f) for f in folder] if isinstance(folder, list | tuple) else [str(folder)]


def _build(settings, folders, loaded, rebuild, embedder, progress) -> IngestReport:
    embedder = embedder or get_embedder(settings.embedder)
    uploads = uploads_dir(settings).resolve()
    web = WebStore(settings.index_dir).folder.resolve()
    sources = Sources(
        folders=[os.path.abspath(f) for f in folders],
        uploads=sorted(
            Path(d.path).name for d in loaded.documents if Path(d.path).resolve().parent == uploads
        ),
        documents=len(loaded.documents),
        web=sorted(d.url for d in loaded.documents if Path(d.path).resolve().parent == web),
        feeds=sorted(read_feed_state(settings.index_dir)),
    )
    return build_index(
        loaded.documents,
        embedder,
        settings.index_dir,
        settings.chunk_size,
        settings.chunk_overlap,
        rebuild=rebuild,
        sources=sources,
        article_progress=progress,
        backend=settings.index_backend,
    )


def source_folders(settings: Settings) -> list[str]:
    """The folders the index was built from, or `settings.corpus_dir` for a new index (none
    for an index of web pages or uploads only)."""
    recorded = read_sources(settings.index_dir)
    if recorded and (recorded.folders or recorded.web or recorded.uploads):
        return recorded.folders
    return [settings.corpus_dir]


def check_shrink(
    index_dir: str | Path, folders: list[str], loaded: LoadResult, strict: bool = False
) -> None:
    """Refuse an ingest that would drop most of an index's articles.

    Only when the folders differ from those the index was built from (deleting files from
    the index's own folder is the user's choice), or always when `strict` (a repair).
    """
    recorded = read_sources(index_dir)
    manifest = read_manifest(index_dir)
    before = len(manifest.get("documents", {})) if manifest else None
    if before is None and recorded:
        before = recorded.documents
    if not before or len(loaded.documents) >= SHRINK_LIMIT * before:
        return
    same = recorded is not None and _same_folders(recorded.folders, folders)
    if same and not strict:
        return
    origin = f" from {', '.join(recorded.folders)}" if recorded else ""
    raise IndexStoreError(
        f"{index_dir}/ holds {before} articles{origin}; {', '.join(map(str, folders))} would "
        f"leave {len(loaded.documents)}. Nothing was changed. To replace the index's articles "
        "with these, run `rag ingest FOLDER --replace`; to update it, give its own folder."
    )


def _same_folders(recorded: list[str], folders: list[str]) -> bool:
    return {os.path.realpath(f) for f in recorded} == {os.path.realpath(f) for f in folders}


def uploads_dir(settings: Settings) -> Path:
    """Articles added from the browser live beside the index, never in the corpus folder."""
    return Path(settings.index_dir) / UPLOADS


def load_articles(
    settings: Settings,
    folder: str | Path | list[str | Path] | None = None,
    progress: Progress | None = None,
) -> LoadResult:
    """The article folder(s), the uploaded articles and the saved web pages; a corpus article
    wins a name clash."""
    folders = _as_list(folder) if folder is not None else source_folders(settings)
    stages = [(f, "reading") for f in folders]
    if uploads_dir(settings).is_dir():
        stages.append((uploads_dir(settings), "uploads"))
    web = WebStore(settings.index_dir)
    if web.records:
        stages.append((web, "web"))
    documents, skipped, known = [], [], set()
    limits = Limits.of(settings)
    for path, stage in stages:
        report = (lambda done, total, s=stage: progress(s, done, total)) if progress else None
        if path is web:
            loaded = web.load(report, limits)
        else:
            loaded = load_corpus(path, progress=report, limits=limits)
        skipped += loaded.skipped
        for document in loaded.documents:
            if document.doc_id in known:
                skipped.append(
                    Skipped(document.path, f"{document.doc_id} is already in the corpus")
                )
            else:
                known.add(document.doc_id)
                documents.append(document)
    return LoadResult(documents, skipped)


def add_articles(
    settings: Settings,
    paths: list[str | Path],
    embedder: Embedder,
    progress: Progress | None = None,
    notify: Callable[[str], None] = log.warning,
) -> tuple[list[str], list[Skipped]]:
    """Check uploaded files, keep the good ones, re-index the index's own sources incrementally.

    Returns the doc_ids added and the files refused, each with its reason. Nothing is
    overwritten: a file whose name is taken (by an article or an earlier upload) is kept under
    the first free name (`one.txt` -> `one-2.txt`, doc_id `one-2`). A refused file never
    reaches the uploads folder, so it cannot break a later ingest. Limits:
    `settings.max_upload_bytes` a file, `settings.max_uploads` files in the folder; an article
    whose text is already in the index (under any name) is refused.
    """
    target = uploads_dir(settings)
    with ingest_lock(settings.index_dir, notify):
        folders = source_folders(settings)
        loaded = load_articles(settings, folders)
        uploaded = {Path(d.path).name for d in loaded.documents if Path(d.path).parent == target}
        by_id = {d.doc_id: d for d in loaded.documents}
        by_hash = {d.content_hash: d.doc_id for d in loaded.documents}
        added, refused = [], []
        for path in map(Path, paths):
            reason, document = _check_upload(path, settings, by_hash)
            if reason is None and len(uploaded) >= settings.max_uploads:
                reason = f"{path.name}: the index already holds {settings.max_uploads} uploads."
            if reason:
                refused.append(Skipped(path.name, reason))
                continue
            name = _free_name(path, by_id, target)
            target.mkdir(parents=True, exist_ok=True)
            partial = target / f".{name}.part"
            try:
                shutil.copyfile(path, partial)
                os.replace(partial, target / name)
            except OSError as exc:  # a full disk: no half-copied upload is left behind
                partial.unlink(missing_ok=True)
                raise IndexStoreError(
                    f"{exc.strerror or exc} while saving the upload {name} in {target}/: the "
                    "index in use still answers; free some space and upload it again."
                ) from exc
            document = dataclasses.replace(
                document, doc_id=Path(name).stem, path=str(target / name)
            )
            by_id[document.doc_id] = document
            by_hash[document.content_hash] = document.doc_id
            uploaded.add(name)
            added.append(document.doc_id)
        if added:
            updated = LoadResult(list(by_id.values()), loaded.skipped)
            _build(settings, folders, updated, False, embedder, progress)
    return added, refused


def _check_upload(path: Path, settings: Settings, by_hash: dict):
    """(why the upload is refused or None, its document)."""
    name = path.name
    if path.suffix.lower() not in SUPPORTED_SUFFIXES or name.startswith("."):
        return f"{name}: only .txt, .md, .html, .pdf and .docx articles are taken.", None
    try:
        document = load_document(
            path, settings.max_upload_bytes, doc_id=path.stem, limits=Limits.of(settings)
        )
    except CorpusError as exc:
        return str(exc), None
    same = by_hash.get(document.content_hash)
    if same is not None:
        return f"{name}: the same text is already in the index (as {same}).", None
    return None, document


def _free_name(path: Path, by_id: dict, target: Path) -> str:
    """`path`'s file name, or with -2, -3... before its suffix when an article or an upload
    already has that doc_id (file stem) or the uploads folder that file name."""
    stem, suffix = path.stem, path.suffix
    candidate, number = stem, 1
    while candidate in by_id or (target / f"{candidate}{suffix}").exists():
        number += 1
        candidate = f"{stem}-{number}"
    return f"{candidate}{suffix}"


def open_index(
    settings: Settings, embedder: Embedder, notify=log.warning, progress: Progress | None = None
) -> Index:
    """Load the index; when it is missing, damaged or built otherwise, rebuild it and say so.

    A damaged index is rebuilt from the folders it records, never from a default folder; when
    they are gone (or have lost most of their articles), it is left untouched and an
    IndexStoreError says what to do.
    """
    problem = _problem(settings, embedder)
    if problem is None:
        return load_index(settings.index_dir)
    bar = None if progress else TerminalProgress()  # inert when stderr is not a terminal
    try:
        _repair(settings, embedder, notify, progress or bar)
    finally:
        if bar:
            bar.close()
    return load_index(settings.index_dir)


def _repair(settings: Settings, embedder: Embedder, notify, progress: Progress) -> None:
    problem = _problem(settings, embedder)
    _rebuild_folders(settings, problem)  # when the sources are gone, stop before any change
    with ingest_lock(settings.index_dir, notify):
        problem = _problem(settings, embedder)  # another process may have rebuilt it meanwhile
        if problem is None:
            return
        folders = _rebuild_folders(settings, problem)
        loaded = load_articles(settings, folders, progress)
        if has_index(settings.index_dir):
            check_shrink(settings.index_dir, folders, loaded, strict=True)
            notify(f"{problem} — rebuilding the index from {', '.join(folders)} now.")
        else:
            notify(f"No index in {settings.index_dir}/ yet: building it from {folders[0]} now.")
        _build(settings, folders, loaded, True, embedder, progress)


def _problem(settings: Settings, embedder: Embedder) -> str | None:
    try:
        index = load_index(settings.index_dir)
    except IndexStoreError as exc:
        return str(exc)
    if index.embedder_id != embedder.id:
        return f"the index was built with {index.embedder_id}, not {embedder.id}"
    return None


def _rebuild_folders(settings: Settings, problem: str) -> list[str]:
    """Where a rebuild takes its articles from; raises when that cannot be known or is gone."""
    index_dir = settings.index_dir
    if not has_index(index_dir):
        return [settings.corpus_dir]  # a first build
    recorded = read_sources(index_dir)
    if recorded is None or not (recorded.folders or recorded.web or recorded.uploads):
        raise IndexStoreError(
            f"{problem}. The index does not record which folder its articles came from, so it "
            f"was left as it is: rebuild it with `rag ingest FOLDER --index-dir {index_dir} "
            "--rebuild --replace`."
        )
    missing = [f for f in recorded.folders if not Path(f).is_dir()]
    if missing:
        raise IndexStoreError(
            f"{problem}. Its articles came from {', '.join(missing)}, which is gone; the "
            "damaged index was left as it is. Put the folder back and run the command again, "
            f"or rebuild from another folder: `rag ingest FOLDER --index-dir {index_dir} "
            "--rebuild --replace`."
        )
    return recorded.folders
