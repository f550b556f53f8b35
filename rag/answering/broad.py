"""Broad questions: "résume…", "compare…", "que disent les articles sur…", "what is the strategy".

They have no single fact for an answer: they get more evidence, drawn from several articles,
and a prompt that asks for a few cited points instead of one quoted fact.
"""

from __future__ import annotations

import re

# Hand-written, French and English: a request for a summary, a comparison, an overview or
# "what the articles say" (docs/decisions/2026-11-28-broad-answer-points.md).
_BROAD = re.compile(
    r"^\s*(r[ée]sum|summar|compar|synth[ée]|d[ée]cri[sv]|describe|give an overview|"
    r"pr[ée]sente[zr]?\b|explique[zr]? (la|les) (strat|position|enjeux|point))|"
    r"\b(que disent|what do(es)? (the|these) articles?|"
    r"what (do|does) .{0,40}\bsay about|(across|in) (the|these) articles|"
    r"dans (les|ces) articles|(les|ces) articles (disent|décrivent|évoquent)|"
    r"(quelle est|what is|what's) (la |the )?(stratégie|strategy) (de|d'|d’|of)|"
    r"(quels sont|what are) (les |the )?(risques|risks|points de vue|views|arguments|enjeux|"
    r"optimistic|pessimistic)|"
    r"points de vue (optimiste|pessimiste)s? (et|ou)|(optimistic|pessimistic) (and|or) |"
    r"how (is|are|does|do) \w+ (using|responding|portrayed|described|seen))",
    re.IGNORECASE,
)

BROAD_TOP_K = 12  # chunks searched
BROAD_EVIDENCE = 6  # passages shown to the model
BROAD_PER_ARTICLE = 2  # at most this many passages of one article, so that several are heard
BROAD_MAX_TOKENS = 200  # caps the reply: about 4 short sentences, ~15 s on 2 cores


def is_broad(question: str) -> bool:
    """Whether the question asks for an overview rather than one fact."""
    return bool(_BROAD.search(question))
