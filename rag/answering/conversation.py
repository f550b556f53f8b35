"""Follow-up questions: "et pourquoi ?" is asked again together with the question it follows.

Rewriting a follow-up with the LLM would cost a second model call on a CPU; a short question
that opens with a connective, or has no name of its own, is joined to the previous question
instead, which retrieval, the prompt and the answer checks all understand.
"""

from __future__ import annotations

import re

CONJUNCTIONS = (
    "et", "mais", "alors", "donc", "aussi", "puis", "ensuite",
    "and", "but", "so", "also", "then", "what about", "how about",
)  # fmt: skip
SHORT = 4  # words: a question this short with no name of its own leans on the previous one
_WORD = re.compile(r"[\w'’-]+")


def is_follow_up(question: str) -> bool:
    """ "Et pourquoi ?", "and Mistral?", "Combien ?" lean on the question before them."""
    words = _WORD.findall(question)
    if not words:
        return False
    opening = " ".join(words[:2]).lower()
    if len(words) <= 6 and any(opening == c or opening.startswith(c + " ") for c in CONJUNCTIONS):
        return True
    names = [w for w in words[1:] if w[:1].isupper()]
    return len(words) <= SHORT and not names


def standalone_question(question: str, previous: list[str] | None) -> str:
    """The question as it should be understood, given the earlier questions of the conversation."""
    question = question.strip()
    if not previous or not is_follow_up(question):
        return question
    return f"{previous[-1].strip()} {question}"
