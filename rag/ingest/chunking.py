"""Sentence-aware chunks with exact character offsets into the cleaned document."""

from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass

from rag.ingest.corpus import Document


@dataclass(frozen=True)
class Chunk:
    """A passage of one document: `document.text[start:end] == text`."""

    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    title: str
    date: str | None
    url: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def chunk_document(document: Document, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Split with llama-index's SentenceSplitter, then locate each piece in the source text."""
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks = []
    cursor = 0
    for piece in splitter.split_text(document.text):
        span = locate(document.text, piece, cursor)
        if span is None:
            continue
        start, end = span
        chunks.append(
            Chunk(
                doc_id=document.doc_id,
                chunk_id=f"{document.doc_id}#{len(chunks)}",
                text=document.text[start:end],
                start=start,
                end=end,
                title=document.title,
                date=document.date,
                url=document.url,
            )
        )
        # Overlapping chunks start before the previous one ends; search from its start.
        cursor = start + 1
    return chunks


def locate(text: str, piece: str, cursor: int) -> tuple[int, int] | None:
    """Where `piece` stands in `text` at or after `cursor`.

    The splitter strips and may collapse whitespace between sentences, so when the exact string
    is absent we match it with any run of whitespace between its words. (Hand-written: the
    splitter's `split_text` returns strings, not offsets.)
    """
    piece = piece.strip()
    if not piece:
        return None
    found = text.find(piece, cursor)
    if found < 0:
        found = text.find(piece)
    if found >= 0:
        return found, found + len(piece)
    pattern = r"\s+".join(re.escape(word) for word in piece.split())
    match = re.compile(pattern).search(text, cursor) or re.compile(pattern).search(text)
    return (match.start(), match.end()) if match else None


# A section heading is a line of its own, short, without sentence punctuation ("Exemple",
# "Point de vue pessimiste"); the document's first line is its title, not a heading.
_HEADING = re.compile(r"^[^\n.!?:;,]{3,60}$")
MAX_HEADING_WORDS = 8
_DATE = re.compile(r"\b\d{4}-\d{2}\b")


def section_headings(text: str) -> list[tuple[int, str]]:
    """(offset, heading) for each section heading of a cleaned document, in order."""
    headings = []
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if (
            offset
            and _HEADING.match(stripped)
            and len(stripped.split()) <= MAX_HEADING_WORDS
            and not _DATE.search(stripped)  # "date 2016-02-02": metadata, not a section
        ):
            headings.append((offset, stripped))
        offset += len(line) + 1
    return headings


def with_heading(text: str, start: int, end: int, headings: list[tuple[int, str]]) -> str:
    """The sentence `text[start:end]` prefixed with the heading of its section, if any.

    What a sentence means can hang on its section: "la Chine ... menace ouvertement Taiwan" is
    the pessimistic view because it sits under "Point de vue pessimiste".
    """
    sentence = text[start:end]
    position = bisect.bisect_right([offset for offset, _ in headings], start) - 1
    if position < 0 or headings[position][1] == sentence:
        return sentence
    return f"{headings[position][1]} : {sentence}"


# A sentence ends at . ! ? … (optionally followed by closing quotes or brackets) before
# whitespace, or at a line break. Hand-written because we need character offsets, which
# llama-index's sentence tokenizers do not return.
_SENTENCE_END = re.compile(r"""(?<=[.!?…])["'»”’)\]]*\s+|\n+""")
MIN_SENTENCE_CHARS = 12


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text[start:end]`, whitespace trimmed."""
    end = len(text) if end is None else end
    spans = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        _add_span(text, cursor, match.start(), spans)
        cursor = match.end()
    _add_span(text, cursor, end, spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start >= MIN_SENTENCE_CHARS:
        spans.append((start, end))
    elif end > start and spans and text[spans[-1][1] : start].strip() == "":
        # A fragment ("Résultat ?") is glued to the previous sentence on the same line.
        if "\n" not in text[spans[-1][1] : start]:
            spans[-1] = (spans[-1][0], end)
