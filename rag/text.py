"""Text analysis for the index, retrieval and the answer checks: tokens, folding, language."""

from __future__ import annotations

import functools
import re
import unicodedata

# --- tokens -----------------------------------------------------------------------------------


def bm25_tokenize(texts: list[str], ids: bool = True):
    """French stemming, French and English stop words: the same for chunks and questions."""
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    return bm25s.tokenize(
        texts,
        stopwords=list(STOPWORDS_FRENCH) + list(STOPWORDS_EN),
        stemmer=_stemmer(),
        return_ids=ids,
        show_progress=False,
    )


@functools.cache
def _stemmer():
    """The French Snowball stemmer, built once for every tokenisation."""
    import Stemmer

    return Stemmer.Stemmer("french")


def fold(text: str) -> str:
    """Lower case without accents, for lenient string matching."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def whole_words(words: str, text: str, flags: int = 0) -> re.Match | None:
    """Where `words` stand in `text` as whole words ("IA" in "l'IA", not in "spécialement")."""
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text, flags)


# --- language ---------------------------------------------------------------------------------

# Function words decide most questions; langdetect alone is unreliable on five-word questions.
_FRENCH = set(
    "le la les des du de un une est sont qui que quel quelle quels quelles quoi pourquoi comment "
    "combien où ou et à au aux en dans sur pour par avec ce cette ces il elle ils elles a ont "
    "été était selon quand lors depuis leur leurs se sa son ses ne pas plus".split()
)
_ENGLISH = set(
    "the a an is are was were what which who whom whose why how when where does did do of "
    "in on for to with by from this that these those it its he she they has have had according "
    "and or not".split()
)
_WORD = re.compile(r"[a-zàâäçéèêëîïôöùûüÿœæ']+")
DOCUMENT_SAMPLE_CHARS = 5000  # an article's language is read from its opening


def detect_language(text: str, fallback: str = "fr") -> str:
    """`fr` or `en` for a question; `fallback` when nothing tells them apart."""
    words = [w.strip("'") for w in _WORD.findall(text.lower().replace("’", "'"))]
    words = [w.split("'")[-1] for w in words if w]
    french = sum(w in _FRENCH for w in words)
    english = sum(w in _ENGLISH for w in words)
    if re.search(r"[àâçéèêëîïôùûœ]", text.lower()):
        french += 1
    if french != english:
        return "fr" if french > english else "en"
    for guess in _guesses(text):
        if guess.lang in ("fr", "en") and guess.prob > 0.7:
            return guess.lang
    return fallback


def detect_document_language(text: str) -> str:
    """An article's language code (`fr`, `en`, `zh-cn`…), or `unknown` when it has no letters."""
    guesses = _guesses(text[:DOCUMENT_SAMPLE_CHARS])
    return guesses[0].lang if guesses else "unknown"


def majority_language(languages: list[str]) -> str:
    """`fr` or `en`, whichever more of `languages` are; French on a tie or for none."""
    return max(("fr", "en"), key=languages.count) if languages else "fr"


def _guesses(text: str) -> list:
    """langdetect's guesses, most likely first; none for a text without letters."""
    try:
        return _langdetect()(text)
    except Exception:  # langdetect raises LangDetectException on text with no letters
        return []


@functools.cache
def _langdetect():
    """langdetect's `detect_langs`, seeded once: each detection restarts from the seed, so the
    same text always gets the same guess (unseeded, it varies from run to run)."""
    from langdetect import DetectorFactory, detect_langs

    DetectorFactory.seed = 0
    return detect_langs
