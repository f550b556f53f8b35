"""Checks that each answer sentence is supported by the evidence it cites.

Multilingual e5 gives every on-topic pair a cosine above .8, so the cosine alone cannot tell the
passage that states a fact from its neighbour. Names and numbers can: they survive translation
("Zambia"/"Zambie" share their first letters), so a sentence must carry the numbers of the passage
it cites, and among passages we prefer the one holding its names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.text import bm25_tokenize, fold, whole_words

SUPPORT_COSINE = 0.82  # below this, a passage is about something else
SUPPORT_OVERLAP = 0.5  # share of the sentence's stemmed words in the passage: plainly restated
MIN_NAMES = 0.5  # share of the sentence's names (capitalised words) the passage must hold
CITATION_MARGIN = 0.05  # a cited passage scoring this much below the best one is replaced
PREFIX = 4  # names match on their first letters, across French and English spellings
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_WORD = re.compile(r"\w+")


def numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


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


QUOTE_SHARE = 0.75  # share of a long quote's words a passage must hold (a word may change)
QUOTE_MIN_WORDS = 3  # a shorter quote must appear as it is
QUESTION_ECHO = 0.8  # a sentence made of this share of the question's words repeats it


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text).replace("’", "'"))


def holds_quote(passage: str, quote: str) -> bool:
    """Whether the passage holds the quote: folded, punctuation aside; a long quote may differ
    in a word or two (the model drops an article, changes an inflection), never in a number."""
    quoted = _words(quote)
    if not quoted:
        return False
    written = _words(passage)
    if f" {' '.join(quoted)} " in f" {' '.join(written)} ":
        return True
    if len(quoted) < QUOTE_MIN_WORDS or not numbers(quote) <= numbers(passage):
        return False
    present = set(written)
    return sum(w in present for w in quoted) >= QUOTE_SHARE * len(quoted)


def quote_holders(quote: str, evidence) -> list[int]:
    """The numbers of the passages that hold the quote, in evidence order."""
    return [e.number for e in evidence if quote and holds_quote(e.text, quote)]


def states_quote(text: str, quote: str, cited: str, question: str, close: bool = False) -> bool:
    """Whether the model's sentence, translated into the question's language, states its quote
    and adds nothing that the cited passages or the question do not say.

    It must keep the quote's numbers, and its names unless it is `close` to the cited passage
    (e5 cosine, computed by the caller: names get translated too, "IA" / "AI"); its numbers
    must come from the passages or the question, and so must most of its names. (In the
    passages' own language the answer is the passage's sentence itself: see `rag.answering.answer`.)
    """
    if not text.strip() or text.rstrip().endswith("?"):
        return False
    if not numbers(text) <= numbers(cited) | numbers(question):
        return False
    known = {_key(w) for w in _WORD.findall(f"{cited} {question} {quote}")}
    text_names = {k for k in names(text) if len(k) > 2}
    if text_names and len(text_names - known) > len(text_names) * (1 - MIN_NAMES):
        return False
    text_words = _words(text)
    asked = set(_words(question))
    if text_words and sum(w in asked for w in text_words) >= QUESTION_ECHO * len(text_words):
        return False  # the question repeated, translated or not, without the answer
    text_keys = {_key(w) for w in _WORD.findall(text)}
    return numbers(quote) <= numbers(text) and (close or names("x " + quote) <= text_keys)


QUOTE_SHOWN_SHARE = 0.6  # a quote this long, against its sentence, is the sentence itself


def quote_in(sentence: str, quote: str) -> str | None:
    """The quote as `sentence` writes it (case aside), when it is a part of the sentence worth
    standing out; else None."""
    quote = " ".join(quote.split()).strip(' .;:,«»"')
    if len(quote) < 2 or len(quote) > QUOTE_SHOWN_SHARE * len(sentence):
        return None
    found = whole_words(quote, sentence, re.IGNORECASE)
    return found.group(0) if found else None


def as_sentence(quote: str) -> str:
    """The quote shown as the answer: its first letter capitalised, a final stop."""
    quote = " ".join(quote.split()).strip(" .;:,")
    return f"{quote[:1].upper()}{quote[1:]}."


def sentence_holding(quote: str, passage: str) -> str:
    """The passage's own sentence that holds the quote (the whole passage when the quote runs
    across sentences): the answer in the source's words, with its context."""
    from rag.ingest.chunking import split_sentences

    for start, end in split_sentences(passage):
        if holds_quote(passage[start:end], quote):
            return readable(passage[start:end])
    return " ".join(passage.split())


# Words that tie a sentence to the one before it and say nothing by themselves.
_CONNECTOR = re.compile(
    r"^(de plus|en outre|par ailleurs|moreover|furthermore|in addition|additionally|also),\s+",
    re.IGNORECASE,
)


def readable(sentence: str) -> str:
    """A sentence taken out of its article, made to read on its own: without the closing mark
    of the previous sentence's quotation ("» C'est…"), with the opening mark of a quotation it
    starts inside ("« Nous devrions… », a-t-il déclaré"), without a leading "De plus," /
    "Moreover,"."""
    sentence = " ".join(sentence.split()).lstrip("»” ")
    connector = _CONNECTOR.match(sentence)
    if connector and len(sentence) > connector.end():
        rest = sentence[connector.end() :]
        sentence = rest[:1].upper() + rest[1:]
    for opening, closing in (("« ", "»"), ("“", "”")):
        if sentence.count(closing) > sentence.count(opening.strip()):
            sentence = opening + sentence
    return sentence


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


# Hand-written, French and English: "when", "how many", "quel montant"... ask for a number.
_ASKS_NUMBER = re.compile(
    r"^\s*(quand|when|combien|how (many|much|long|old)|en quelle année|in what year|"
    r"(à|a) quelle date|on what date|what date|what year|quel montant|quelle somme)\b|"
    r"\b(quel (montant|pourcentage|prix|cours|budget)|what (amount|percentage|price)|"
    r"combien)\b",
    re.IGNORECASE,
)


# Counts written in words ("en quatre mouvements", "three times") are numbers too. From one to
# twelve with their values, to compare with a quote in digits ("4" / "en quatre mouvements").
_WORD_VALUES = {
    w: str(n)
    for n, words in enumerate(
        [
            (),
            ("un", "une", "one"),
            ("deux", "two"),
            ("trois", "three"),
            ("quatre", "four"),
            ("cinq", "five"),
            ("six",),
            ("sept", "seven"),
            ("huit", "eight"),
            ("neuf", "nine"),
            ("dix", "ten"),
            ("onze", "eleven"),
            ("douze", "twelve"),
        ]
    )
    for w in words
}
_ARTICLES = {"un", "une", "one"}  # "1", but also "a": not enough to answer "how many"
_LARGE_NUMBER_WORDS = (
    "vingt trente quarante cinquante soixante cent cents mille million millions milliard "
    "milliards twenty thirty forty fifty hundred thousand billion billions dozen douzaine "
    "centaine centaines dizaine dizaines"
).split()
_NUMBER_WORDS = re.compile(
    r"\b(" + "|".join([*sorted(set(_WORD_VALUES) - _ARTICLES), *_LARGE_NUMBER_WORDS]) + r")\b",
    re.IGNORECASE,
)


def numbers_said(text: str) -> set[str]:
    """The numbers a text states, in digits or as a count in words from one to twelve."""
    return numbers(text) | {_WORD_VALUES[w] for w in _words(text) if w in _WORD_VALUES}


def has_number_if_asked(question: str, sentence: str) -> bool:
    """A question that asks for a date, an amount or a count needs a number in its answer,
    in digits or in words."""
    if not _ASKS_NUMBER.search(question):
        return True
    return bool(numbers(sentence)) or bool(_NUMBER_WORDS.search(sentence))


def mentions_asked_names(
    question: str, sentence: str, article: str = "", common: frozenset[str] = frozenset()
) -> bool:
    """Whether the answer, or the article it cites, mentions what the question names.

    On a corpus of many articles, a question about an absent subject ("Benazir Bhutto") still
    finds passages of the same kind, and the model answers from them. The names of the
    question that are rare in the corpus ("Bhutto", "Reddit"; not "Chine", found in most
    articles) must appear in the answer or anywhere in the cited article
    (docs/decisions/2026-11-27-question-names-in-cited-article.md).
    """
    asked_names = {k for k in names(question) if len(k) > 2} - common
    if not asked_names:
        return True
    mentioned = {_key(w) for w in _WORD.findall(sentence + " " + article)}
    return bool(asked_names & mentioned)


def common_keys(texts: list[str]) -> frozenset[str]:
    """Word keys found in more than half of the texts (the corpus's everyday vocabulary)."""
    counts: dict[str, int] = {}
    for text in texts:
        for key in {_key(w) for w in _WORD.findall(text)}:
            counts[key] = counts.get(key, 0) + 1
    return frozenset(k for k, n in counts.items() if n > len(texts) / 2)
