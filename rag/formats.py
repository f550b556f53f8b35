"""Text out of binary article formats: PDF pages (pypdf) and Word documents (python-docx).

Measured on a real French PDF (LibreOffice, two justified, hyphenated columns; README, *Corpus*):
pypdf kept the columns apart (character error rate .007, all of it line-end hyphens, before the
reflow below), pdfplumber's `extract_text` read across both columns (.74) and was 3x slower.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
from dataclasses import dataclass

from rag.errors import CorpusError

# A line this much shorter than the page's full lines ends a paragraph (or is a heading).
SHORT_LINE = 0.75
_SENTENCE_END = tuple('.!?…:;»"”)')


@dataclass(frozen=True)
class PdfText:
    pages: list[str]  # one reflowed text per page, in order
    title: str | None


def read_pdf(data: bytes, name: str) -> PdfText:
    """The text of each page, lines joined back into paragraphs and line-end hyphens removed."""
    try:
        import pypdf
    except ImportError as exc:
        raise CorpusError("Reading PDF needs pypdf: pip install pypdf.") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd xref
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")  # many PDFs are "encrypted" with an empty password
        raw_pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title")
    except CorpusError:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise CorpusError(f"{name} is not a readable PDF ({type(exc).__name__}: {exc}).") from exc
    if not any(page.strip() for page in raw_pages):
        raise CorpusError(
            f"{name} has no text layer (a scanned PDF?): run OCR on it first (e.g. ocrmypdf)."
        )
    words = _hyphen_evidence("\n".join(raw_pages))
    pages = [reflow(page, words) for page in raw_pages]
    for number in range(len(pages) - 1):  # a word cut across two pages goes to the first
        before, after = pages[number], pages[number + 1]
        if after and _hyphenated(before, after):
            first, _, rest = after.partition(" ")
            pages[number] = _join_hyphenated(before, first, words)
            pages[number + 1] = rest
    title = " ".join(str(title).split()) if title else None
    return PdfText(pages, title or None)


def reflow(page: str, words: set[str] | None = None) -> str:
    """PDF lines back into paragraphs: a full line continues on the next one; a short line
    (a paragraph's last, or a heading) ends its paragraph. "quali-" + "fié" becomes "qualifié"
    unless the document writes the word with its hyphen elsewhere ("open-source")."""
    lines = [" ".join(line.split()) for line in page.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    full = statistics.quantiles([len(x) for x in lines], n=10)[-1] if len(lines) > 2 else 0
    words = words if words is not None else _hyphen_evidence(page)
    paragraphs, current = [], ""
    for line in lines:
        if not current:
            current = line
        elif _hyphenated(current, line):
            first, _, rest = line.partition(" ")
            current = _join_hyphenated(current, first, words) + (" " + rest if rest else "")
        else:
            current += " " + line
        if len(line) < SHORT_LINE * full and not line.endswith("-"):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _hyphenated(current: str, line: str) -> bool:
    return (
        current.endswith("-") and len(current) > 1 and current[-2].isalpha() and line[0].islower()
    )


def _join_hyphenated(text: str, first: str, words: set[str]) -> str:
    """`text` ending in "quali-" continued by `first` ("fié"): the hyphen goes unless the
    document writes the joined word with it elsewhere."""
    tail = text.rsplit(" ", 1)[-1]
    kept = re.sub(r"^\W+", "", tail) + re.sub(r"\W+$", "", first)
    return text + first if kept.lower() in words else text[:-1] + first


def _hyphen_evidence(text: str) -> set[str]:
    """Hyphenated words written on one line somewhere in the document, lower-cased."""
    return {word.lower() for word in re.findall(r"\w+-\w+", text)}


def read_docx(data: bytes, name: str) -> tuple[str, str | None]:
    """(text, title): paragraphs and headings, each on its own line; the title from the
    document's properties, else its first heading."""
    try:
        import docx
    except ImportError as exc:
        raise CorpusError("Reading Word files needs python-docx: pip install python-docx.") from exc
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a zip that is not a Word file, a damaged archive, ...
        raise CorpusError(
            f"{name} is not a readable Word file ({type(exc).__name__}): re-save it as .docx."
        ) from exc
    paragraphs, heading = [], None
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if heading is None and style.lower().startswith(("title", "heading", "titre")):
            heading = text
        paragraphs.append(text)
    title = " ".join((document.core_properties.title or "").split()) or heading
    return "\n\n".join(paragraphs), title
