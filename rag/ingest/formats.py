"""Text out of binary article formats: PDF pages (pypdf, which keeps the columns of a news
layout apart: docs/decisions/2026-11-28-pdf-pypdf.md) and Word documents (python-docx).
"""

from __future__ import annotations

import io
import logging
import re
import statistics
import zipfile
from dataclasses import dataclass

from rag.config import DEFAULT_MAX_DOCUMENT_CHARS, DEFAULT_MAX_PDF_PAGES, DEFAULT_MAX_UNZIPPED_BYTES
from rag.errors import CorpusError

# A line this much shorter than the page's full lines ends a paragraph (or is a heading).
SHORT_LINE = 0.75
# A /Title that names the file or the software, not the article.
_PLACEHOLDER_TITLE = re.compile(
    r"\.(docx?|odt|rtf|pdf|txt|indd)$|^(microsoft word|untitled|sans titre|document\d*$)", re.I
)


# A part of a zip-based document that unpacks to more than this many times its packed size is
# a bomb: Word's XML packs 5-25 times (python-docx's own styles.xml: 23), a bomb's 200-1000.
# Parts under ZIP_RATIO_FLOOR unpacked are not checked (tiny XML packs well and costs nothing).
MAX_ZIP_RATIO = 100
ZIP_RATIO_FLOOR = 1_000_000


def check_length(chars: int, name: str, max_chars: int) -> None:
    """Refuse a document whose text has grown past `max_chars` while it is read."""
    if chars > max_chars:
        raise CorpusError(
            f"{name} holds more than {max_chars:,} characters of text, the limit for one "
            "document: split it, or raise max_document_chars (RAG_MAX_DOCUMENT_CHARS)."
        )


def check_zip(data: bytes, name: str, max_unzipped_bytes: int) -> None:
    """Refuse a zip-based document (.docx) that would unpack past `max_unzipped_bytes`, or one
    of whose parts unpacks more than MAX_ZIP_RATIO times its packed size, from the zip's
    directory, before anything is unpacked. The directory's sizes bind: Python's zipfile stops
    a part at its declared size (and then fails its CRC check)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise CorpusError(
            f"{name} is not a readable Word file (a damaged zip): re-save it as .docx."
        ) from exc
    total = sum(part.file_size for part in parts)
    if total > max_unzipped_bytes:
        raise CorpusError(
            f"{name} would unpack to {total:,} bytes, over the {max_unzipped_bytes:,} byte limit "
            "for one document (an expansion bomb?): not read. Split it, or raise "
            "max_unzipped_bytes (RAG_MAX_UNZIPPED_BYTES)."
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > ZIP_RATIO_FLOOR and ratio > MAX_ZIP_RATIO:
            raise CorpusError(
                f"{name}: its part {part.filename} unpacks to {ratio:,.0f} times its packed "
                f"size, more than the {MAX_ZIP_RATIO} any Word file needs (an expansion "
                "bomb?): not read."
            )


@dataclass(frozen=True)
class PdfText:
    pages: list[str]  # one reflowed text per page, in order
    title: str | None


def read_pdf(
    data: bytes,
    name: str,
    max_pages: int = DEFAULT_MAX_PDF_PAGES,
    max_chars: int = DEFAULT_MAX_DOCUMENT_CHARS,
) -> PdfText:
    """The text of each page, lines joined back into paragraphs and line-end hyphens removed.

    A PDF of more than `max_pages` pages is refused before any page is read, and one whose
    text passes `max_chars` as soon as it does (pypdf itself caps each stream it unpacks)."""
    try:
        import pypdf
    except ImportError as exc:
        raise CorpusError("Reading PDF needs pypdf: pip install pypdf.") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd xref
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")  # many PDFs are "encrypted" with an empty password
        if len(reader.pages) > max_pages:
            raise CorpusError(
                f"{name} has {len(reader.pages):,} pages, over the {max_pages:,} page limit for "
                "one document: split it, or raise max_pdf_pages (RAG_MAX_PDF_PAGES)."
            )
        raw_pages, chars = [], 0
        for page in reader.pages:
            raw_pages.append(page.extract_text() or "")
            chars += len(raw_pages[-1])
            check_length(chars, name, max_chars)
        title = (reader.metadata or {}).get("/Title")
        heading = _largest_first_text(reader.pages[0]) if reader.pages else None
    except CorpusError:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise CorpusError(f"{name} is not a readable PDF ({type(exc).__name__}: {exc}).") from exc
    if not any(page.strip() for page in raw_pages):
        raise CorpusError(
            f"{name} has no text layer (a scanned PDF?): run OCR on it first (e.g. ocrmypdf)."
        )
    raw_pages = drop_running_lines(raw_pages)
    words = _hyphen_evidence("\n".join(raw_pages))
    pages = [reflow(page, words) for page in raw_pages]
    for number in range(len(pages) - 1):  # a word cut across two pages goes to the first
        before, after = pages[number], pages[number + 1]
        if after and _hyphenated(before, after):
            first, _, rest = after.partition(" ")
            pages[number] = _join_hyphenated(before, first, words)
            pages[number + 1] = rest
    if heading:
        pages[0] = _join_heading(pages[0], heading)
    title = " ".join(str(title).split()) if title else None
    if title and _PLACEHOLDER_TITLE.search(title):
        title = None
    return PdfText(pages, title or heading)


def drop_running_lines(pages: list[str], edge: int = 2) -> list[str]:
    """Pages without their running heads and feet: a line among the first or last `edge`
    of a page that recurs (digits aside: "Page 3 / 12", "Le Monde – 12 mars 2025") on at
    least half of the pages, three pages or more."""
    if len(pages) < 3:
        return pages
    counts: dict[str, int] = {}
    for page in pages:
        for key in {_line_key(line) for line in _edges(page, edge)}:
            counts[key] = counts.get(key, 0) + 1
    running = {key for key, count in counts.items() if key and count >= len(pages) / 2}
    cleaned = []
    for page in pages:
        lines = page.split("\n")
        edges = set(range(min(edge, len(lines)))) | set(
            range(max(0, len(lines) - edge), len(lines))
        )
        cleaned.append(
            "\n".join(
                line
                for number, line in enumerate(lines)
                if number not in edges or _line_key(line) not in running
            )
        )
    return cleaned


def _edges(page: str, edge: int) -> list[str]:
    lines = page.split("\n")
    return lines[:edge] + lines[-edge:]


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _largest_first_text(page) -> str | None:
    """The text set in the page's largest font when it opens the page and stands out from
    the body (a title over several lines: 16 pt against 11 pt in the test PDF)."""
    runs: list[tuple[float, str]] = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            runs.append((round(abs(size * tm[3] * (cm[3] or 1)), 1), text))

    page.extract_text(visitor_text=visit)
    if len(runs) < 2:
        return None
    sizes = [size for size, text in runs for _ in text]
    body = statistics.median(sizes)
    largest = max(size for size, _ in runs[:10])
    if largest < 1.2 * body or runs[0][0] != largest:
        return None
    heading = []
    for size, text in runs:
        if size != largest:
            break
        heading.append(text)
    heading = " ".join(" ".join(heading).split())
    return heading if 3 <= len(heading) <= 200 else None


def _join_heading(page: str, heading: str) -> str:
    """The page with the heading's lines, which the reflow kept apart, as one paragraph."""
    paragraphs = page.split("\n\n")
    for count in range(1, min(len(paragraphs), 6) + 1):
        if " ".join(paragraphs[:count]) == heading:
            return "\n\n".join([heading] + paragraphs[count:])
    return page


def reflow(page: str, words: set[str] | None = None) -> str:
    """PDF lines back into paragraphs: a full line continues on the next one; a short line
    (a paragraph's last, or a heading) ends its paragraph. "quali-" + "fié" becomes "qualifié"
    unless the document writes the word with its hyphen elsewhere ("open-source")."""
    lines = [" ".join(line.split()) for line in page.split("\n")]
    if not any(lines):
        return ""
    lengths = [len(x) for x in lines if x]
    full = statistics.quantiles(lengths, n=10)[-1] if len(lengths) > 2 else 0
    words = words if words is not None else _hyphen_evidence(page)
    paragraphs, current = [], ""
    for line in lines:
        if not line:  # a blank line always ends a paragraph
            ends = True
        elif not current:
            current = line
        elif _hyphenated(current, line):
            first, _, rest = line.partition(" ")
            current = _join_hyphenated(current, first, words) + (" " + rest if rest else "")
        else:
            current += " " + line
        ends = not line or (len(line) < SHORT_LINE * full and not line.endswith("-"))
        if ends and current:
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


# The first heading among a document's first paragraphs is its title: looking a paragraph's
# style up costs more than reading its text, so not through a whole long document.
TITLE_PARAGRAPHS = 20


def read_docx(
    data: bytes,
    name: str,
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES,
    max_chars: int = DEFAULT_MAX_DOCUMENT_CHARS,
) -> tuple[str, str | None]:
    """(text, title): paragraphs and headings, each on its own line; the title from the
    document's properties, else its first heading.

    The zip is checked before it is unpacked (`check_zip`), the text as it is read."""
    try:
        import docx
    except ImportError as exc:
        raise CorpusError("Reading Word files needs python-docx: pip install python-docx.") from exc
    check_zip(data, name, max_unzipped_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a zip that is not a Word file, a damaged archive, ...
        raise CorpusError(
            f"{name} is not a readable Word file ({type(exc).__name__}): re-save it as .docx."
        ) from exc
    paragraphs, heading, chars = [], None, 0
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        if heading is None and len(paragraphs) < TITLE_PARAGRAPHS:
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if style.lower().startswith(("title", "heading", "titre")):
                heading = text
        paragraphs.append(text)
        chars += len(text) + 2
        check_length(chars, name, max_chars)
    title = " ".join((document.core_properties.title or "").split()) or heading
    return "\n\n".join(paragraphs), title
