"""Checks that each answer sentence is supported by the evidence it cites.

Multilingual e5 gives every on-topic pair a cosine above .8, so the cosine alone cannot tell the
passage that states a fact from its neighbour. Names and numbers can: they survive translation
("Zambia"/"Zambie" share their first letters), so a sentence must carry the numbers of the passage
it cites, and among passages we prefer the one holding its names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from rag.store import bm25_tokenize

SUPPORT_COSINE = 0.82  # below this, a passage is about something else
SUPPORT_OVERLAP = 0.5  # share of the sentence's stemmed words in the passage: plainly restated
MIN_NAMES = 0.5  # share of the sentence's names (capitalised words) the passage must hold
CITATION_MARGIN = 0.05  # a cited passage scoring this much below the best one is replaced
PREFIX = 4  # names match on their first letters, across French and English spellings
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_WORD = re.compile(r"\w+")


def numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def fold(text: str) -> str:
    """Lower case without accents, for lenient string matching."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def names(text: str) -> set[str]:
    """Capitalised words after the first one, and words with digits, folded to a prefix."""
    words = _WORD.findall(text)[1:]
    picked = {w for w in words if (w[:1].isupper() and len(w) > 1) or any(c.isdigit() for c in w)}
    return {_key(w) for w in picked}


def _key(word: str) -> str:
    word = fold(word)
    return word[:PREFIX] if len(word) > PREFIX else word


@dataclass(frozen=True)
class Support:
    supported: bool
    score: float


def support(sentence: str, vector: np.ndarray | None, evidence) -> Support:
    """Whether one evidence passage supports a sentence, and how well (to rank passages)."""
    if not numbers(sentence) <= numbers(evidence.text):
        return Support(False, 0.0)
    sentence_names = names(sentence)
    passage_keys = {_key(w) for w in _WORD.findall(evidence.text)}
    name_share = len(sentence_names & passage_keys) / len(sentence_names) if sentence_names else 1.0
    terms = set(bm25_tokenize([sentence], ids=False)[0])
    passage_terms = set(bm25_tokenize([evidence.text], ids=False)[0])
    overlap = len(terms & passage_terms) / len(terms) if terms else 0.0
    cosine = 0.0
    if vector is not None and evidence.vector is not None:
        cosine = float(vector @ evidence.vector)
    supported = overlap >= SUPPORT_OVERLAP or (cosine >= SUPPORT_COSINE and name_share >= MIN_NAMES)
    return Support(supported, cosine + 0.2 * name_share + 0.1 * overlap)


def supporting_sources(sentence: str, vector, cited: list[int], evidence) -> list[int]:
    """The cited numbers that support the sentence; else the best supporting passage; else []."""
    checks = {e.number: support(sentence, vector, e) for e in evidence}
    candidates = {n: c.score for n, c in checks.items() if c.supported}
    if not candidates:
        return []
    best = max(candidates.values())
    kept = [n for n in cited if n in candidates and candidates[n] >= best - CITATION_MARGIN]
    return kept or [max(candidates, key=candidates.get)]


def with_answer(text: str, answer: str, passages: tuple[str, ...] = ()) -> str:
    """The sentence, completed with the short answer when the model left it out of the sentence.

    When the sentence is a copy of a passage that does not hold the answer (the 1.5B model
    once answered "guerre froide technologique" from [1] and then copied [3] as its sentence),
    the sentence says something else: the answer alone replaces it.
    """
    if not answer:
        return text
    if copies_another_passage(text, answer, passages):
        answer = answer.strip(" .")
        return f"{answer[:1].upper()}{answer[1:]}."
    missing_numbers = numbers(answer) - numbers(text)
    text_keys = {_key(w) for w in _WORD.findall(text)}
    missing_names = {k for k in names("x " + answer) - text_keys if len(k) > 2}
    if not missing_numbers and not missing_names:
        return text
    return f"{text.rstrip(' .')} : {answer}."


COPY_OVERLAP = 0.7  # share of a sentence's stemmed words found in a passage it was copied from


def copies_another_passage(text: str, answer: str, passages: tuple[str, ...]) -> bool:
    """Whether `text` restates a passage without the answer while another passage holds it.

    Lexical on purpose: a sentence translated into the question's language shares few stemmed
    words with any passage, so this never fires on a translation.
    """
    answer_terms, text_terms, *passage_terms = (
        set(words) for words in bm25_tokenize([answer, text, *passages], ids=False)
    )
    if (
        not answer_terms
        or not text_terms
        or len(answer_terms & text_terms) >= len(answer_terms) / 2
    ):
        return False
    holders = [len(answer_terms & terms) >= len(answer_terms) / 2 for terms in passage_terms]
    copied = [len(text_terms & terms) >= COPY_OVERLAP * len(text_terms) for terms in passage_terms]
    return any(holders) and any(copied) and not any(h and c for h, c in zip(holders, copied))


# What kind of answer a question asks for. Hand-written patterns, French and English: a "when"
# question needs a date or number in the answer, a "who"/"which country" question a name that
# is not already in the question. An answer without it does not answer, however well cited.
_ASKS_NUMBER = re.compile(
    r"^\s*(quand|when|combien|how (many|much|long|old)|en quelle année|in what year|"
    r"(à|a) quelle date|on what date|what date|what year|quel montant|quelle somme)\b|"
    r"\b(quel (montant|pourcentage|prix|cours|budget)|what (amount|percentage|price)|"
    r"combien)\b",
    re.IGNORECASE,
)
_ASKS_NAME = re.compile(
    r"^\s*(qui|who|whom)\b|\b(quel(le)?s? (pays|ville|entreprises?|modèles?|société|"
    r"personne|ministre|organisation)|which (country|city|compan(y|ies)|models?|person|"
    r"organi[sz]ation)|comment s.appelle|what is the name|quel est le nom)\b",
    re.IGNORECASE,
)


def expected_kind(question: str) -> str | None:
    """`number`, `name`, or None when any kind of answer may do."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_NAME.search(question):
        return "name"
    return None


def answers_kind(
    question: str, sentence: str, cited_text: str = "", common: frozenset[str] = frozenset()
) -> bool:
    """Whether the sentence is about what the question names, and holds what it asks for.

    When the question names something rare in the corpus ("the World AI Conference", "Reddit"),
    the answer or the passage it cites must mention it; names found in most articles ("Chine")
    say nothing. Then a number or a new name is required when the question asks for one.
    """
    asked_names = {k for k in names(question) if len(k) > 2} - common
    mentioned = {_key(w) for w in _WORD.findall(sentence + " " + cited_text)}
    if asked_names and not asked_names & mentioned:
        return False
    kind = expected_kind(question)
    if kind == "number":
        return bool(numbers(sentence))
    if kind == "name":
        asked = {_key(w) for w in _WORD.findall(question)}
        first = _WORD.findall(sentence)[:1]
        # The first word counts too (answers often start with the name), unless it is a
        # capitalised function word ("Les", "The", "Cette").
        candidates = names(sentence) | {
            _key(w) for w in first if w[:1].isupper() and w.lower() not in _function_words()
        }
        # Two-letter keys ("IA", "US", "Li") are too common to count as the answer alone.
        return any(len(key) > 2 for key in candidates - asked)
    return True


def common_keys(texts: list[str]) -> frozenset[str]:
    """Word keys found in more than half of the texts (the corpus's everyday vocabulary)."""
    counts: dict[str, int] = {}
    for text in texts:
        for key in {_key(w) for w in _WORD.findall(text)}:
            counts[key] = counts.get(key, 0) + 1
    return frozenset(k for k, n in counts.items() if n > len(texts) / 2)


def _function_words() -> set[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    return set(STOPWORDS_EN) | set(STOPWORDS_FRENCH) | {"cette", "this", "these", "those"}
