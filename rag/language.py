"""Which language a question is in: French or English, with a fallback for short questions."""

from __future__ import annotations

import re

# Function words decide most questions; langdetect alone is unreliable on five-word questions.
_FRENCH = set(
    "le la les des du de un une est sont qui que quel quelle quels quelles quoi pourquoi comment "
    "combien où ou et à au aux en dans sur pour par avec ce cette ces il elle ils elles a ont "
    "été était selon chinois chinoise pays quand lors depuis leur leurs se sa son ses ne pas "
    "plus".split()
)
_ENGLISH = set(
    "the a an is are was were what which who whom whose why how when where does did do of "
    "in on for to with by from this that these those it its he she they has have had according "
    "chinese country and or not".split()
)
_WORD = re.compile(r"[a-zàâäçéèêëîïôöùûüÿœæ']+")


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
    return _langdetect(text) or fallback


def _langdetect(text: str) -> str | None:
    try:
        from langdetect import DetectorFactory, detect_langs

        DetectorFactory.seed = 0
        for guess in detect_langs(text):
            if guess.lang in ("fr", "en") and guess.prob > 0.7:
                return guess.lang
    except Exception:  # langdetect raises LangDetectException on text with no letters
        return None
    return None
