"""HTML and Markdown for the chat: answers with clickable citations, and their sources panel."""

from __future__ import annotations

import html
import re

from rag.answering.answer import Answer, period_label
from rag.answering.briefing import confidence_note, escape_markdown, with_bold_quotes
from rag.answering.periods import Period

CONTEXT_CHARS = 240  # article text shown on each side of a cited passage
_CITATION = re.compile(r"\[(\d+)\]")

EMPTY_SOURCES = {
    "fr": "Posez une question : les passages cités s'afficheront ici.",
    "en": "Ask a question: the cited passages will show here.",
}
REFUSED_SOURCES = {
    "fr": "Aucun passage des articles ne répond à cette question.",
    "en": "No passage of the articles answers this question.",
}


PERIOD_NOTES = {
    "fr": {"question": "Période lue dans la question : {}.", "filter": "Période filtrée : {}."},
    "en": {"question": "Period read from the question: {}.", "filter": "Period filter: {}."},
}


def period_note(answer: Answer) -> str | None:
    """The period an answer was restricted to, in words, or None."""
    record = answer.period or {}
    if not (record.get("since") or record.get("until")):
        return None
    label = period_label(Period(record.get("since"), record.get("until")), answer.language)
    return PERIOD_NOTES[answer.language][record.get("from", "question")].format(label)


def chat_message(answer: Answer, turn: int) -> str:
    """The answer as a chat message; each [n] links to passage n of this turn's sources.

    Everything else is escaped: the answer quotes article text, and the chat renders Markdown
    and HTML (an article's `<img src=x onerror=…>` reached the answer bubble's DOM).
    """
    if answer.refused:
        text = f"ⓘ *{escape_markdown(answer.text)}*"
    else:
        pieces = _CITATION.split(answer.text)  # text, number, text, number, …, text
        quotes = [s.quote for s in answer.sentences if s.quote]
        text = "".join(
            with_bold_quotes(piece, quotes) if i % 2 == 0 else _link(piece, turn)
            for i, piece in enumerate(pieces)
        )
    confidence = confidence_note(answer)
    if confidence:
        marker = "✓" if answer.confidence_label == "sure" else "?"
        text += f"\n\n{marker} *{escape_markdown(confidence)}*"
    if answer.notice:
        text += f"\n\n⚠ *{escape_markdown(answer.notice)}*"
    note = period_note(answer)
    if note:
        text += f"\n\n🗓 *{escape_markdown(note)}*"
    return text


def _link(number: str, turn: int) -> str:
    """A citation mark `[n]` that opens passage n of this turn's sources."""
    return rf"[\[{number}\]](#cite-{turn}-{number})"


def plain(text: str) -> str:
    """Any other text (a question, a draft, a file name) shown as it is in Markdown."""
    return escape_markdown(text)


def sources_panel(answers: dict[int, Answer], documents: dict, shown: int | None) -> str:
    """Every turn's sources, only turn `shown` visible; citations.js switches between them."""
    if not answers:
        return f"<p class='hint'>{EMPTY_SOURCES['fr']}<br>{EMPTY_SOURCES['en']}</p>"
    groups = []
    for turn, answer in answers.items():
        style = "" if turn == shown else " style='display:none'"
        cards = [f"<p class='question'>{html.escape(answer.question)}</p>"]
        if answer.refused:
            cards.append(f"<p class='refusal'>{REFUSED_SOURCES[answer.language]}</p>")
        cards += [_card(turn, source, documents) for source in answer.sources]
        groups.append(
            f"<div class='answer-sources' id='answer-{turn}'{style}>{''.join(cards)}</div>"
        )
    return "\n".join(groups)


def _card(turn: int, source, documents: dict) -> str:
    document = documents.get(source.doc_id)
    text = document.text if document else source.text
    start, end = (source.start, source.end) if document else (0, len(text))
    before = text[max(0, start - CONTEXT_CHARS) : start]
    after = text[end : end + CONTEXT_CHARS]
    when = f"<span class='date'>{html.escape(source.date)}</span>" if source.date else ""
    page = f" <span class='page'>p. {int(source.page)}</span>" if source.page else ""
    # Only web addresses become links: an article's own metadata could say `javascript:`.
    link = (
        f"<a href='{html.escape(source.url)}' target='_blank' rel='noopener noreferrer'>"
        f"{html.escape(source.url)}</a>"
        if source.url and source.url.lower().startswith(("https://", "http://"))
        else html.escape(source.url or source.doc_id)
    )
    return (
        f"<div class='source-card' id='cite-{turn}-{source.n}'>"
        f"<h4>[{source.n}] {html.escape(source.title)}</h4>"
        f"<div class='meta'>{when} {link}{page}</div>"
        f"<div class='passage'>…{html.escape(before)}<mark>{html.escape(source.text)}</mark>"
        f"{html.escape(after)}…</div></div>"
    )
