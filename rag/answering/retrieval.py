"""Hybrid retrieval (dense + BM25, reciprocal rank fusion) and evidence selection."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from rag.answering.decisions import Decisions
from rag.answering.decisions import load as load_decisions
from rag.answering.features import SENTENCE_FEATURES, Candidate, Scorer
from rag.answering.periods import Filters, bounds, mentioned_spans, without_relative
from rag.index.embedders import Embedder
from rag.index.store import Index, check_embedder
from rag.ingest.chunking import Chunk
from rag.text import bm25_tokenize, detect_language

# The constant of reciprocal rank fusion, score = sum of 1 / (RRF_K + rank): small, so that the
# first places of each of three 40-deep rankings count
# (docs/decisions/2026-11-26-hybrid-retrieval-fusion.md).
RRF_K = 10
CANDIDATES = 40  # how deep each retriever looks before fusion
# The chunk-by-best-sentence ranking scans every sentence vector; past this many sentences that
# scan costs more than the whole rest of a search, so hybrid search fuses chunks and BM25 only.
SENTENCE_SCAN_LIMIT = 1_000_000
CONTEXT_MIN_CHARS = 90  # an evidence sentence shorter than this gets its neighbour as context
# A question asking for the latest news adds to each chunk's fused score this share of the best
# fused score x the article's place in time (newest 1, oldest and undated 0): it reorders chunks
# within about a quarter of the best score, not a clear first place. Seeds, "les nouvelles les
# plus récentes sur l'IA chinoise": the 2025-03 article's best chunk goes from 8th to 1st.
RECENCY_WEIGHT = 0.25
MODES = ("hybrid", "dense", "bm25")  # hybrid fuses the others; each alone is for evaluation


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the scores behind it."""

    rank: int
    chunk: Chunk
    score: float
    dense_score: float | None
    bm25_score: float | None

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "doc_id": self.chunk.doc_id,
            "chunk_id": self.chunk.chunk_id,
            "score": round(self.score, 6),
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
        }


@dataclass(frozen=True)
class Evidence:
    """One numbered passage the LLM may cite: a best sentence with a little context."""

    number: int
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    url: str | None
    text: str
    start: int
    end: int
    score: float  # cosine between the question and the best sentence of the passage
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    language: str | None = None  # the article's language
    page: int | None = None  # the page the passage starts on (PDF articles)
    ranked: float = 0.0  # the learned ranker's log-odds that the sentence answers the question
    # This passage with the neighbouring sentence the ranker rates higher: what a quote shows.
    with_neighbour: Evidence | None = field(default=None, repr=False, compare=False)

    def as_quoted(self) -> Evidence:
        """The passage as an answer quotes it."""
        return self.with_neighbour or self


@dataclass
class Retrieval:
    """What one question retrieved, with timings."""

    question: str
    hits: list[Hit]
    evidence: list[Evidence]
    seconds: float

    @property
    def best_score(self) -> float:
        return max((e.score for e in self.evidence), default=0.0)


class Retriever:
    """Searches one loaded index with one embedder."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        mode: str = "hybrid",
        decisions: Decisions | None = None,
    ) -> None:
        check_embedder(index, embedder.id, embedder.dimension)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self._decisions = decisions
        self.scorer = Scorer(index)
        self._spans: dict[str, list[tuple[str, str]]] | None = None
        self._sentence_starts: dict[str, tuple[list[int], int]] = {}
        for row, (doc_id, start, _end) in enumerate(index.sentences):
            starts, first = self._sentence_starts.setdefault(doc_id, ([], row))
            starts.append(start)
        self._chunk_starts: dict[str, tuple[list[int], int]] = {}
        for row, chunk in enumerate(index.chunks):
            starts, first = self._chunk_starts.setdefault(chunk.doc_id, ([], row))
            starts.append(chunk.start)

    @property
    def decisions(self) -> Decisions:
        """The learned evidence ranker (the shipped one unless given)."""
        if self._decisions is None:
            self._decisions = load_decisions()
        return self._decisions

    def search(
        self,
        question: str,
        k: int = 5,
        query_vector: np.ndarray | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """The top `k` chunks for `question`, among the articles `filters` allows; relative
        time words are not searched (see `without_relative`)."""
        question = without_relative(question)
        if not self.index.chunks or not question.strip():
            return []
        allowed = self.allowed_documents(filters)
        rows_allowed = None if allowed is None else self._rows(self._chunk_starts, allowed)
        usable, hidden = None, set()  # the chunk rows left, and hidden, by passage filters
        if filters is not None and filters.hides_passages:
            before = np.arange(len(self.index.chunks)) if rows_allowed is None else rows_allowed
            rows_allowed = self._passages_allowed(filters, before)
            usable = set(rows_allowed.tolist())
            hidden = set(before.tolist()) - usable
        if rows_allowed is not None and not len(rows_allowed):
            return []
        searchable = len(self.index.chunks) if rows_allowed is None else len(rows_allowed)
        depth = min(max(CANDIDATES, k), searchable)
        dense: dict[int, tuple[int, float]] = {}
        sentences: dict[int, tuple[int, float]] = {}
        lexical: dict[int, tuple[int, float]] = {}
        if self.mode in ("hybrid", "dense"):
            if query_vector is None:
                query_vector = self.embedder.embed_query(question)
            pairs = self.index.vector_store.search(query_vector, depth, rows_allowed, allowed)
            if usable is not None:  # Milvus filters by article only
                pairs = [(r, s) for r, s in pairs if r in usable]
            dense = {r: (rank, s) for rank, (r, s) in enumerate(pairs)}
            if self.mode == "hybrid" and len(self.index.sentences) <= SENTENCE_SCAN_LIMIT:
                sentences = self._sentence_ranking(query_vector, depth, allowed, hidden)
        if self.mode in ("hybrid", "bm25") and self.index.bm25 is not None:
            tokens = bm25_tokenize([question], ids=False)
            if tokens and tokens[0]:
                mask = None
                if rows_allowed is not None:
                    mask = np.zeros(len(self.index.chunks), dtype=np.float32)
                    mask[rows_allowed] = 1.0
                rows, scores = self.index.bm25.retrieve(
                    tokens, k=depth, show_progress=False, weight_mask=mask
                )
                ranked = [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]
                lexical = {r: (rank, s) for rank, (r, s) in enumerate(ranked)}
        fused: dict[int, float] = {}
        for ranking in (dense, sentences, lexical):
            for row, (rank, _score) in ranking.items():
                fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        if filters is not None and filters.period is not None and filters.period.recent:
            self._prefer_recent(fused)
        best = sorted(fused, key=lambda row: -fused[row])[:k]
        return [
            Hit(
                rank=i + 1,
                chunk=self.index.chunks[row],
                score=fused[row],
                dense_score=dense.get(row, (None, None))[1],
                bm25_score=lexical.get(row, (None, None))[1],
            )
            for i, row in enumerate(best)
        ]

    def allowed_documents(self, filters: Filters | None) -> set[str] | None:
        """The doc_ids `filters` lets a search use; None when it allows every article."""
        if filters is None or not filters.active:
            return None
        question_period = filters.period is not None and filters.period.origin == "question"
        spans = self._mentioned_spans() if question_period else {}
        return {
            d.doc_id
            for d in self.index.documents.values()
            if filters.allows(d, spans.get(d.doc_id, ()))
        }

    def _mentioned_spans(self) -> dict[str, list[tuple[str, str]]]:
        """The dates each article writes (see `periods.mentioned_spans`), read once."""
        if self._spans is None:
            self._spans = {
                doc_id: mentioned_spans(d.text) for doc_id, d in self.index.documents.items()
            }
        return self._spans

    @staticmethod
    def _rows(starts_by_document: dict, doc_ids: set[str]) -> np.ndarray:
        """The rows (of chunks or sentences, grouped by document) of the given articles."""
        rows = [
            np.arange(first, first + len(starts))
            for doc_id, (starts, first) in starts_by_document.items()
            if doc_id in doc_ids
        ]
        return np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)

    def _passages_allowed(self, filters: Filters, rows: np.ndarray | None) -> np.ndarray:
        """The chunk rows (of `rows`, or of the whole index) whose passage `filters` allows."""
        chunks = self.index.chunks
        rows = np.arange(len(chunks)) if rows is None else rows
        keep = [
            filters.allows_passage(chunks[r].doc_id, chunks[r].start, chunks[r].end) for r in rows
        ]
        return rows[np.asarray(keep, dtype=bool)] if len(rows) else rows

    def _prefer_recent(self, fused: dict[int, float]) -> None:
        """Boost newer articles' chunks (see RECENCY_WEIGHT)."""
        days = {
            doc_id: date.fromisoformat(bounds(d.date)[1]).toordinal()
            for doc_id, d in self.index.documents.items()
            if d.date
        }
        if not days or not fused:
            return
        oldest, newest = min(days.values()), max(days.values())
        span = max(newest - oldest, 1)
        bonus = RECENCY_WEIGHT * max(fused.values())
        for row in fused:
            day = days.get(self.index.chunks[row].doc_id)
            if day is not None:
                fused[row] += bonus * (day - oldest + (span if newest == oldest else 0)) / span

    def _sentence_ranking(
        self,
        query_vector: np.ndarray,
        depth: int,
        allowed: set[str] | None = None,
        hidden: frozenset[int] | set[int] = frozenset(),
    ) -> dict:
        """Chunks ranked by their single best sentence: finds a fact buried in a long chunk.
        Only the `allowed` articles' sentences, none of the `hidden` chunk rows.

        A dot product over all sentence vectors; fine to about a million sentences (see
        SENTENCE_SCAN_LIMIT), past which it wants a FAISS index of its own.
        """
        if not len(self.index.sentences):
            return {}
        scores = np.asarray(self.index.sentence_vectors) @ query_vector
        if allowed is not None:
            masked = np.full_like(scores, -np.inf)
            rows = self._rows(self._sentence_starts, allowed)
            masked[rows] = scores[rows]
            scores = masked
        if hidden:
            documents = {self.index.chunks[r].doc_id for r in hidden}
            for row in self._rows(self._sentence_starts, documents):
                if self._chunk_of_sentence(int(row)) in hidden:
                    scores[row] = -np.inf
        count = min(depth * 2, len(scores))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        ranking: dict[int, tuple[int, float]] = {}
        for row in top:
            if not np.isfinite(scores[row]):
                break
            chunk_row = self._chunk_of_sentence(int(row))
            if chunk_row is not None and chunk_row not in ranking:
                ranking[chunk_row] = (len(ranking), float(scores[row]))
            if len(ranking) == depth:
                break
        return ranking

    def _chunk_of_sentence(self, row: int) -> int | None:
        doc_id, start, _end = self.index.sentences[row]
        starts, first = self._chunk_starts.get(doc_id, ([], 0))
        position = bisect.bisect_right(starts, start) - 1
        return first + position if position >= 0 else None

    def retrieve(
        self,
        question: str,
        k: int,
        evidence: int,
        per_document: int | None = None,
        filters: Filters | None = None,
        language: str | None = None,
    ) -> Retrieval:
        """Search, then rank every sentence of the top `k` chunks (of the articles `filters`
        allows) with the learned ranker, and keep the `evidence` best (at most `per_document`
        of one article, when given). `language` is the question's (detected when not given)."""
        started = time.perf_counter()
        language = language or detect_language(question)
        searched = without_relative(question)  # embedded and scored as search() searches it
        query_vector = self.embedder.embed_query(searched) if searched.strip() else None
        hits = self.search(searched, k, query_vector=query_vector, filters=filters)
        candidates = self.candidates(hits)
        if not candidates:
            return Retrieval(question, hits, [], time.perf_counter() - started)
        features = self.scorer.sentence_features(searched, language, query_vector, hits, candidates)
        cosine = features[:, SENTENCE_FEATURES.index("cosine")]
        scores = self.decisions.rank(features)
        passages = self.select_evidence(candidates, cosine, scores, evidence, per_document)
        return Retrieval(question, hits, passages, time.perf_counter() - started)

    def candidates(self, hits: list[Hit]) -> list[Candidate]:
        """Every sentence of the hits' chunks, in hit order, each with the span it would show."""
        found, seen = [], set()
        for hit in hits:
            for row in self._sentence_rows(hit.chunk):
                if row in seen:
                    continue
                seen.add(row)
                doc_id, start, end = self.index.sentences[row]
                shown_start, shown_end = self._with_context(row, start, end)
                found.append(Candidate(row, hit, doc_id, start, end, shown_start, shown_end))
        return found

    def select_evidence(
        self,
        candidates: list[Candidate],
        cosine: np.ndarray,
        scores: np.ndarray,
        count: int,
        per_document: int | None = None,
    ) -> list[Evidence]:
        """The `count` best candidates by ranker score (log-odds), numbered; a sentence already
        shown as another's context is not shown again."""
        chosen: list[Evidence] = []
        covered: list[tuple[str, int, int]] = []
        ranked_rows = {c.row: float(s) for c, s in zip(candidates, scores)}
        for i in np.argsort(-scores, kind="stable"):
            candidate = candidates[int(i)]
            doc_id, start, end = candidate.doc_id, candidate.shown_start, candidate.shown_end
            if any(d == doc_id and s <= candidate.start < e for d, s, e in covered):
                continue
            if per_document and sum(d == doc_id for d, _, _ in covered) >= per_document:
                continue
            covered.append((doc_id, start, end))
            passage = self._evidence(
                len(chosen) + 1, candidate, start, end, float(cosine[i]), float(scores[i])
            )
            wider = self._with_better_neighbour(candidate, ranked_rows)
            if wider != (start, end):
                passage = replace(
                    passage, with_neighbour=replace(passage, **self._span(doc_id, *wider))
                )
            chosen.append(passage)
            if len(chosen) == count:
                break
        return chosen

    def _evidence(
        self, number: int, candidate: Candidate, start: int, end: int, cosine: float, ranked: float
    ) -> Evidence:
        chunk = candidate.hit.chunk
        document = self.index.documents[candidate.doc_id]
        return Evidence(
            number=number,
            doc_id=candidate.doc_id,
            chunk_id=chunk.chunk_id,
            title=chunk.title,
            date=chunk.date,
            url=chunk.url,
            score=cosine,
            vector=np.asarray(self.index.sentence_vectors[candidate.row]),
            language=document.language,
            ranked=ranked,
            **self._span(candidate.doc_id, start, end),
        )

    def _span(self, doc_id: str, start: int, end: int) -> dict:
        document = self.index.documents[doc_id]
        return {
            "text": document.text[start:end],
            "start": start,
            "end": end,
            "page": document.page_at(start),
        }

    def _with_better_neighbour(self, candidate: Candidate, ranked_rows: dict) -> tuple[int, int]:
        """The candidate's shown span with the sentence before or after it in the same
        paragraph, whichever the ranker rates higher (among those it rated)."""
        sentences = self.index.sentences
        text = self.index.documents[candidate.doc_id].text

        def same_paragraph(row: int) -> bool:
            doc_id, start, end = sentences[row]
            between = (
                text[end : candidate.start] if row < candidate.row else text[candidate.end : start]
            )
            return doc_id == candidate.doc_id and "\n" not in between

        rated = [
            row
            for row in (candidate.row - 1, candidate.row + 1)
            if row in ranked_rows and same_paragraph(row)
        ]
        if not rated:
            return candidate.shown_start, candidate.shown_end
        _, start, end = sentences[max(rated, key=ranked_rows.__getitem__)]
        return min(candidate.shown_start, start), max(candidate.shown_end, end)

    def _sentence_rows(self, chunk: Chunk) -> range:
        starts, first = self._sentence_starts.get(chunk.doc_id, ([], 0))
        low = bisect.bisect_left(starts, chunk.start)
        high = bisect.bisect_left(starts, chunk.end)
        return range(first + low, first + high)

    def _with_context(self, row: int, start: int, end: int) -> tuple[int, int]:
        """Add the next sentence of the same paragraph when the sentence is short."""
        if end - start >= CONTEXT_MIN_CHARS or row + 1 >= len(self.index.sentences):
            return start, end
        doc_id = self.index.sentences[row][0]
        next_doc, next_start, next_end = self.index.sentences[row + 1]
        text = self.index.documents[doc_id].text
        if next_doc == doc_id and "\n" not in text[end:next_start]:
            return start, next_end
        return start, end
