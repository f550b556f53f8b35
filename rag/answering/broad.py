"""Broad questions: "résume…", "compare…", "que disent les articles sur…", "what are the views…".

They have no single fact for an answer: they get a few cited points drawn from several
articles (see `rag.answering.summaries`) instead of one quoted fact.
"""

from __future__ import annotations

import re

# Hand-written, French and English, from words that ask for a summary, a comparison, an
# overview, "what the articles say", or the several sides of a subject; never words of a
# subject (docs/decisions/2026-11-28-broad-answer-points.md).
_SIDES = (
    r"points? de vue|views?|opinions?|avis|arguments?|positions?|perspectives?|r[ée]actions?|"
    r"enjeux|stakes|pros and cons|le pour et le contre|diff[ée]rences|similarit(?:[ée]s|ies)|"
    r"points communs|grandes lignes|main points|key points|points cl[ée]s"
)
_SAID = r"mentionn[ée]e?s|[ée]voqu[ée]e?s|cit[ée]e?s|abord[ée]e?s|mentioned|discussed|raised"
_BROAD = re.compile(
    r"^\s*(?:r[ée]sum|summar|compar|synth[ée]|d[ée]cri[sv]|describe|give an overview|overview|"
    r"pr[ée]sente[zr]?\b|explique[zr]?\b|explain\b|fais le point|faites le point|"
    r"dresse[zr]? (?:un|le) (?:bilan|tableau|panorama)|tour d'horizon|bilan)|"
    r"\b(?:que disent|que racontent|what do(?:es)? (?:the|these) (?:articles?|sources?)|"
    r"what (?:do|does) .{0,40}\b(?:say|tell) about|(?:across|in) (?:the|these) articles|"
    r"(?:what|which)\b.{0,60}\b(?:do|does|did) (?:the|these) (?:articles|sources)\b|"
    r"(?:quels?|quelles?)\b.{0,60}\b(?:les|ces) (?:articles|sources) (?:[ée]voqu|mentionn|cit|"
    r"d[ée]cri|racont|rapport|abord|soulign|signal|pr[ée]sent|dis)\w*|"
    r"(?:dans|selon) (?:les|ces) articles|(?:les|ces) (?:articles|sources) (?:disent|"
    r"d[ée]crivent|d[ée]peignent|pr[ée]sentent|voient|jugent|traitent|parlent|[ée]voquent|"
    r"racontent)|vue d'ensemble|aper[çc]u|overview|tour d'horizon|"
    r"quoi de neuf|what's new|what is new|"
    r"(?:quels?|quelles?) (?:sont|ont [ée]t[ée]) (?:les |leurs? |ses )?(?:\w+ ){0,3}(?:"
    + _SIDES
    + r")\b|what (?:are|were) (?:the |their |its )?(?:\w+ ){0,3}(?:"
    + _SIDES
    + r")\b|(?:quels?|quelles?) (?:sont|ont [ée]t[ée]) les \w+ (?:"
    + _SAID
    + r")|what \w+ (?:are|were|is|was) (?:"
    + _SAID
    + r")|"
    r"(?:quels?|quelles?) (?:\w+ ){0,2}(?:"
    + _SIDES
    + r")\b.{0,60}\b(?:les|ces) (?:articles|sources)\b|"
    r"how (?:is|are|does|do|did|was|were) .{0,40}\b(?:us(?:e|es|ing)|respond\w*|react\w*|"
    r"portray\w*|describ\w*|see|seen|view\w*|perceiv\w*|present\w*|depict\w*|cover\w*))",
    re.IGNORECASE,
)


def is_broad(question: str) -> bool:
    """Whether the question asks for an overview rather than one fact."""
    return bool(_BROAD.search(question))
