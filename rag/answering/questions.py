"""Checks on a question before it is answered: words to search for, and a length the model takes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.config import DEFAULT_MAX_QUESTION_CHARS

# Words that carry no subject: a question made only of these has nothing to look for.
FUNCTION_WORDS = frozenset(
    """
    a à ai aie au aux avec c ça ce ceci cela ces cet cette d dans de des du elle elles en est et
    été être eu il ils j je l la le les leur leurs lui m ma mais me mes moi mon n ne ni nous on ou
    où par pas pour qu que quel quelle quelles quels qui quoi s sa se ses si son sont sur t ta te
    tes toi ton tu un une vos votre vous y
    pourquoi comment combien quand lequel laquelle lesquels lesquelles donc alors puis oui non
    hein bon bah ben voilà voici
    an and are as at be been but by can could did do does for from had has have he her him his
    how i if in into is it its me my no not of on or our she so than that the their them then
    there these they this those to us was we were what when where which who whom whose why will
    with would yes you your
    ok okay hello hi bonjour salut merci thanks please svp stp
    """.split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters or digits, whatever the script
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

NOTICES = {
    "refuse": {
        "fr": "La question ne contient aucun mot à chercher dans les articles : posez-la avec "
        "des mots, par exemple « Qui a présenté le plan ? ».",
        "en": "The question holds no words to look for in the articles: ask it in words, "
        "e.g. “Who presented the plan?”.",
    },
    "cut": {
        "fr": "Question trop longue : seuls ses {n} premiers caractères ont été pris en compte.",
        "en": "The question was too long: only its first {n} characters were used.",
    },
}


@dataclass(frozen=True)
class QuestionCheck:
    """The question to answer (maybe cut), a notice for the user, and whether to refuse it."""

    text: str
    notice: str | None
    refuse: bool


def content_words(text: str) -> list[str]:
    """The words of `text` that name something: not function words, not single letters."""
    words = [w.lower() for w in _WORD.findall(text.replace("’", "'"))]
    return [w for w in words if w not in FUNCTION_WORDS and (len(w) > 1 or w.isdigit())]


def check_question(
    text: str, max_chars: int = DEFAULT_MAX_QUESTION_CHARS, language: str = "en"
) -> QuestionCheck:
    """Normalise spaces, cut a question longer than `max_chars` at a word boundary (with a
    notice), and refuse one with no content words ("???", "et ?", "why?")."""
    language = language if language in ("fr", "en") else "en"
    text = " ".join(_CONTROL.sub(" ", text or "").split())
    notice = None
    if len(text) > max_chars:
        cut = text[: max_chars + 1]
        # Cut at the last space when there is one in the last fifth, so no word is split.
        space = cut.rfind(" ", max_chars * 4 // 5)
        text = (cut[:space] if space > 0 else cut[:max_chars]).rstrip()
        notice = NOTICES["cut"][language].format(n=max_chars)
    if not content_words(text):
        return QuestionCheck(text, NOTICES["refuse"][language], True)
    return QuestionCheck(text, notice, False)
