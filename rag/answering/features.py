"""What the learned decisions look at: features of each candidate sentence, and of a question's
whole evidence. The same code computes them for training (rag/eval/training.py) and for answers.

No feature names a corpus or a topic: cosines, lexical overlaps weighted by the index's own
word rarity, ranks, positions, languages, and whether a sentence holds the kind of thing asked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from rag.text import bm25_tokenize, fold

# What a question asks for, read from its first words, in French and English. Each kind is a
# feature (does the sentence hold a number, a name the question does not say), never a gate.
_ASKS = {
    "number": r"combien|how (many|much|long|old|far)|quel (montant|nombre|pourcentage|prix|"
    r"âge|budget)|quelle (somme|part|superficie|population|distance)|what (amount|number|"
    r"percentage|share)",
    "time": r"quand|when|en quelle année|in what year|(à|a|en) quelle (date|époque|période)|"
    r"on what date|what (date|year)|depuis quand|since when|how long ago",
    "person": r"qui|who|whom|whose|par qui|by whom",
    "place": r"où|where|dans quel (pays|lieu|endroit)|dans quelle (ville|région)|"
    r"in which (country|city|place)",
}
_ASKS = {
    kind: re.compile(rf"(^|\W)({pattern})(\W|$)", re.IGNORECASE) for kind, pattern in _ASKS.items()
}
_NUMBER = re.compile(r"\d")
_YEAR = re.compile(r"\b(1[0-9]|20)\d\d\b")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Ý][\w'’-]+")

# A question with a single candidate (or a single article) has no rival: its margins are set
# this wide, in log-odds and in cosine.
NO_RIVAL = 10.0
NO_RIVAL_COSINE = 0.2

SENTENCE_FEATURES = (
    "cosine",  # question ↔ sentence (e5)
    "cosine_gap",  # below the best candidate's cosine
    "chunk_cosine",  # question ↔ the sentence's chunk
    "chunk_rank",  # 1 / fused rank of the chunk
    "chunk_bm25",  # BM25 of the chunk, over the best chunk's
    "overlap",  # share of the question's stemmed words in the sentence
    "rare_overlap",  # the same, each word weighted by its rarity in the index (IDF)
    "rare_window",  # ... in the sentence and its neighbours
    "rare_before",  # ... in the sentence before it
    "rare_after",  # ... in the sentence after it
    "rare_gap",  # rare_overlap below the best candidate's
    "rare_rank",  # 1 / the place of the sentence by rare_overlap among the candidates
    "cosine_rank",  # 1 / its place by cosine
    "cosine_before",  # question ↔ the sentence before it
    "cosine_after",  # question ↔ the sentence after it
    "pairs",  # share of the question's consecutive word pairs found in the sentence
    "names_found",  # share of the question's capitalised words in the sentence
    "rare_article",  # ... anywhere in the sentence's article
    "rare_missing",  # the rarest question word the article lacks (IDF, over the highest IDF)
    "unknown_words",  # share (IDF) of the question's words found nowhere in the index
    "new_words",  # share of the sentence's words the question does not have
    "length",  # log of the sentence's words
    "position",  # place of the sentence in its chunk, 0 to 1
    "ends_sentence",  # ends like a sentence (not a heading or a teaser line)
    "best_in_chunk",  # the chunk's best sentence by cosine
    "article_share",  # share of the retrieved chunks from the same article
    "same_language",  # the article's language is the question's
    "has_number",
    "has_year",
    "new_names",  # capitalised words the question does not have (log)
    "number_asked_and_given",
    "time_asked_and_given",
    "person_asked_and_name_given",
    "place_asked_and_name_given",
)

ANSWER_FEATURES = (
    "top_score",  # the ranker's best candidate (log-odds)
    "second_score",
    "other_article_margin",  # best minus the best candidate of another article
    "top_cosine",
    "top_cosine_gap_other",  # top cosine minus the best cosine of another article
    "top_rare_overlap",
    "top_rare_article",  # share (IDF) of the question's words found in the top article
    "top_rare_missing",
    "unknown_words",
    "top_names_found",
    "best_rare_article",  # the best of that share over the retrieved articles
    "articles",  # distinct articles among the retrieved chunks (log)
    "top_article_share",
    "same_language",
    "question_words",  # content words of the question (log)
    "candidates",  # sentences considered (log)
)


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved chunk, with the span shown if it is chosen (a short sentence
    brings its neighbour)."""

    row: int  # the sentence's row in the index
    hit: object  # the retrieval Hit whose chunk holds it
    doc_id: str
    start: int
    end: int
    shown_start: int
    shown_end: int


def question_kinds(question: str) -> dict[str, bool]:
    """What the question asks for: a number, a time, a person, a place."""
    return {kind: bool(pattern.search(question)) for kind, pattern in _ASKS.items()}


class Scorer:
    """Computes the features of one question's candidates over one index (IDF read once)."""

    def __init__(self, index) -> None:
        self.index = index
        self._idf: dict[str, float] | None = None
        self._term_chunks: dict[str, np.ndarray] = {}

    # --- word rarity ------------------------------------------------------------------------

    def idf(self, term: str) -> float:
        """The term's inverse document frequency over the index's chunks (BM25's own counts)."""
        if self._idf is None:
            self._idf = {}
            bm25 = self.index.bm25
            total = max(len(self.index.chunks), 1)
            if bm25 is not None:
                indptr = np.asarray(bm25.scores["indptr"])
                counts = np.diff(indptr)
                for word, column in bm25.vocab_dict.items():
                    if column < len(counts):
                        df = int(counts[column])
                        self._idf[word] = math.log(1 + (total - df + 0.5) / (df + 0.5))
            self._max_idf = math.log(1 + (total + 0.5) / 0.5)
        return self._idf.get(term, self._max_idf)

    def chunk_rows_with(self, term: str) -> np.ndarray:
        """The chunk rows whose text holds the (stemmed) term."""
        if term not in self._term_chunks:
            bm25 = self.index.bm25
            column = bm25.vocab_dict.get(term) if bm25 is not None else None
            if column is None or column + 1 >= len(bm25.scores["indptr"]):
                rows = np.zeros(0, dtype=np.int64)
            else:
                indptr = bm25.scores["indptr"]
                rows = np.asarray(bm25.scores["indices"][indptr[column] : indptr[column + 1]])
            self._term_chunks[term] = rows
        return self._term_chunks[term]

    # --- features ---------------------------------------------------------------------------

    def sentence_features(
        self,
        question: str,
        language: str,
        query_vector: np.ndarray,
        hits: list,
        candidates: list[Candidate],
    ) -> np.ndarray:
        """One row of SENTENCE_FEATURES per candidate."""
        if not candidates:
            return np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32)
        index = self.index
        documents = index.documents
        texts = [documents[c.doc_id].text[c.start : c.end] for c in candidates]
        before = [self._neighbour(c, -1) for c in candidates]
        after = [self._neighbour(c, +1) for c in candidates]
        n = len(texts)
        tokens = bm25_tokenize(
            [
                question,
                *texts,
                *(
                    documents[c.doc_id].text[a:b]
                    for c, (a, b, _) in zip(candidates * 2, before + after)
                ),
            ],
            ids=False,
        )
        question_tokens = tokens[0]
        asked = set(question_tokens)
        sentence_terms = [set(t) for t in tokens[1 : 1 + n]]
        before_terms = [set(t) for t in tokens[1 + n : 1 + 2 * n]]
        after_terms = [set(t) for t in tokens[1 + 2 * n :]]
        window_terms = [b | s | a for b, s, a in zip(before_terms, sentence_terms, after_terms)]
        pairs = set(zip(question_tokens, question_tokens[1:]))
        sentence_tokens = tokens[1 : 1 + n]
        weights = {t: self.idf(t) for t in asked}
        total_weight = sum(weights.values()) or 1.0
        article_terms = self._article_terms(asked, {c.doc_id for c in candidates})
        unknown = sum(weights[t] for t in asked if not len(self.chunk_rows_with(t)))
        unknown /= total_weight

        vectors = np.asarray(index.sentence_vectors[[c.row for c in candidates]])
        cosine = vectors @ query_vector
        all_vectors = index.sentence_vectors
        cosine_before = np.array(
            [float(all_vectors[r] @ query_vector) if r is not None else 0.0 for _, _, r in before]
        )
        cosine_after = np.array(
            [float(all_vectors[r] @ query_vector) if r is not None else 0.0 for _, _, r in after]
        )
        rare = (
            np.array([sum(weights[t] for t in asked & terms) for terms in sentence_terms])
            / total_weight
        )
        rare_places = _places(rare)
        cosine_places = _places(cosine)
        asked_names = {fold(w) for w in _CAPITALISED.findall(question)}
        chunk_cosine = np.array(
            [
                c.hit.dense_score
                if c.hit.dense_score is not None
                else float(index.vectors[self._chunk_row(c.hit)] @ query_vector)
                for c in candidates
            ]
        )
        best_bm25 = max((h.bm25_score or 0.0 for h in hits), default=0.0) or 1.0
        per_article = {}
        for hit in hits:
            per_article[hit.chunk.doc_id] = per_article.get(hit.chunk.doc_id, 0) + 1
        best_in_chunk = {}
        for i, c in enumerate(candidates):
            key = c.hit.chunk.chunk_id
            if key not in best_in_chunk or cosine[i] > cosine[best_in_chunk[key]]:
                best_in_chunk[key] = i
        chunk_sizes, chunk_places = {}, []
        for c in candidates:
            key = c.hit.chunk.chunk_id
            chunk_places.append(chunk_sizes.get(key, 0))
            chunk_sizes[key] = chunk_sizes.get(key, 0) + 1
        kinds = question_kinds(question)
        question_folded = set(fold(question).split())

        rows = []
        for i, c in enumerate(candidates):
            terms, window, text = sentence_terms[i], window_terms[i], texts[i]
            words = text.split()
            names = [w for w in _CAPITALISED.findall(text) if fold(w) not in question_folded]
            has_number = bool(_NUMBER.search(text))
            has_year = bool(_YEAR.search(text))
            place = chunk_places[i] / max(chunk_sizes[c.hit.chunk.chunk_id] - 1, 1)
            rows.append(
                [
                    cosine[i],
                    cosine[i] - cosine.max(),
                    chunk_cosine[i],
                    1.0 / c.hit.rank,
                    (c.hit.bm25_score or 0.0) / best_bm25,
                    len(asked & terms) / len(asked) if asked else 0.0,
                    sum(weights[t] for t in asked & terms) / total_weight,
                    sum(weights[t] for t in asked & window) / total_weight,
                    sum(weights[t] for t in asked & before_terms[i]) / total_weight,
                    sum(weights[t] for t in asked & after_terms[i]) / total_weight,
                    rare[i] - rare.max(),
                    1.0 / (1 + rare_places[i]),
                    1.0 / (1 + cosine_places[i]),
                    cosine_before[i],
                    cosine_after[i],
                    _pair_share(pairs, sentence_tokens[i]),
                    (
                        len(asked_names & {fold(w) for w in _CAPITALISED.findall(text)})
                        / len(asked_names)
                        if asked_names
                        else 0.0
                    ),
                    sum(weights[t] for t in article_terms[c.doc_id]) / total_weight,
                    max((weights[t] for t in asked - article_terms[c.doc_id]), default=0.0)
                    / self._max_idf,
                    unknown,
                    len(terms - asked) / len(terms) if terms else 0.0,
                    math.log1p(len(words)),
                    place,
                    float(text.rstrip()[-1:] in ".!?…»\"”'’)"),
                    float(best_in_chunk[c.hit.chunk.chunk_id] == i),
                    per_article[c.doc_id] / len(hits),
                    float(documents[c.doc_id].language == language),
                    float(has_number),
                    float(has_year),
                    math.log1p(len(names)),
                    float(kinds["number"] and has_number),
                    float(kinds["time"] and (has_year or has_number)),
                    float(kinds["person"] and bool(names)),
                    float(kinds["place"] and bool(names)),
                ]
            )
        return np.asarray(rows, dtype=np.float32)

    def answer_features(
        self, question: str, features: np.ndarray, scores: np.ndarray, doc_ids: list[str]
    ) -> np.ndarray:
        """ANSWER_FEATURES of a question whose candidates (of articles `doc_ids`) the ranker
        scored (log-odds)."""
        return answer_features(
            features, scores, doc_ids, len(set(bm25_tokenize([question], ids=False)[0]))
        )

    # --- helpers ----------------------------------------------------------------------------

    def _neighbour(self, candidate: Candidate, step: int) -> tuple[int, int, int | None]:
        """The span and row of the sentence before (step -1) or after (+1) in the same
        article; an empty span and no row at the article's edge."""
        row = candidate.row + step
        sentences = self.index.sentences
        if 0 <= row < len(sentences) and sentences[row][0] == candidate.doc_id:
            return sentences[row][1], sentences[row][2], row
        return 0, 0, None

    def _article_terms(self, asked: set[str], doc_ids: set[str]) -> dict[str, set[str]]:
        """Which of the question's terms each article holds (from BM25's postings)."""
        chunks = self.index.chunks
        found: dict[str, set[str]] = {d: set() for d in doc_ids}
        for term in asked:
            for row in self.chunk_rows_with(term):
                doc_id = chunks[int(row)].doc_id
                if doc_id in found:
                    found[doc_id].add(term)
        return found

    def _chunk_row(self, hit) -> int:
        if not hasattr(self, "_rows_by_chunk"):
            self._rows_by_chunk = {c.chunk_id: i for i, c in enumerate(self.index.chunks)}
        return self._rows_by_chunk[hit.chunk.chunk_id]


def _places(values: np.ndarray) -> np.ndarray:
    """Each value's place when sorted from the highest (0 for the best)."""
    places = np.empty(len(values), dtype=np.int64)
    places[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return places


def _pair_share(pairs: set, tokens: list[str]) -> float:
    """The share of the question's consecutive word pairs found, in order, in `tokens`."""
    if not pairs:
        return 0.0
    return len(pairs & set(zip(tokens, tokens[1:]))) / len(pairs)


def answer_features(
    features: np.ndarray, scores: np.ndarray, doc_ids: list[str], question_terms: int
) -> np.ndarray:
    """ANSWER_FEATURES from the candidates' features, their ranker scores (log-odds) and
    articles, and the number of distinct searchable words of the question."""
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    order = np.argsort(-scores, kind="stable")
    top = int(order[0])
    others = [int(i) for i in order if doc_ids[int(i)] != doc_ids[top]]
    cosine = features[:, column["cosine"]]
    return np.asarray(
        [
            scores[top],
            scores[int(order[1])] if len(order) > 1 else scores[top] - NO_RIVAL,
            scores[top] - (scores[others[0]] if others else scores[top] - NO_RIVAL),
            cosine[top],
            cosine[top] - (cosine[others].max() if others else cosine[top] - NO_RIVAL_COSINE),
            features[top, column["rare_overlap"]],
            features[top, column["rare_article"]],
            features[top, column["rare_missing"]],
            features[top, column["unknown_words"]],
            features[top, column["names_found"]],
            features[:, column["rare_article"]].max(),
            math.log1p(len(set(doc_ids))),
            features[top, column["article_share"]],
            features[top, column["same_language"]],
            math.log1p(question_terms),
            math.log1p(len(doc_ids)),
        ],
        dtype=np.float32,
    )
