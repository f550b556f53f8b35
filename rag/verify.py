"""Checks that each answer sentence is supported by the evidence it cites."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from rag.store import bm25_tokenize

# Calibrated on the seed questions (see README, "Answer quality"): a translated or paraphrased
# sentence scores about .86 against its source with multilingual e5, an unrelated one below .80.
SUPPORT_COSINE = 0.83
SUPPORT_OVERLAP = 0.6  # share of the sentence's stemmed content words found in the evidence
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def fold(text: str) -> str:
    """Lower case without accents, for lenient string matching."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def support(sentence: str, vector: np.ndarray | None, evidence) -> float:
    """How well one evidence passage supports a sentence: 0 when a number is missing."""
    if not numbers(sentence) <= numbers(evidence.text):
        return 0.0
    terms = set(bm25_tokenize([sentence], ids=False)[0])
    overlap = len(terms & set(bm25_tokenize([evidence.text], ids=False)[0])) / max(len(terms), 1)
    cosine = (
        float(vector @ evidence.vector)
        if vector is not None and evidence.vector is not None
        else 0.0
    )
    return max(cosine, SUPPORT_COSINE + (overlap - SUPPORT_OVERLAP))


def supporting_sources(sentence: str, vector, cited: list[int], evidence) -> list[int]:
    """The cited numbers that support the sentence; if none does, the best other one, or []."""
    by_number = {e.number: e for e in evidence}
    scores = {n: support(sentence, vector, e) for n, e in by_number.items()}
    kept = [n for n in cited if n in scores and scores[n] >= SUPPORT_COSINE]
    if kept:
        return kept
    best = max(scores, key=scores.get, default=None)
    return [best] if best is not None and scores[best] >= SUPPORT_COSINE else []
