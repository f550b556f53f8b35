"""Read an article folder: decode, repair mojibake, strip boilerplate, extract metadata."""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.config import DEFAULT_MAX_DOCUMENT_CHARS, DEFAULT_MAX_PDF_PAGES, DEFAULT_MAX_UNZIPPED_BYTES
from rag.errors import CorpusError
from rag.ingest.formats import check_length, read_docx, read_pdf
from rag.text import detect_document_language

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
DEFAULT_MAX_BYTES = 5_000_000
TITLE_MAX_CHARS = 110


@dataclass(frozen=True)
class Document:
    """A cleaned article; chunk offsets point into `text`."""

    doc_id: str
    text: str
    title: str
    date: str | None
    url: str | None
    language: str
    path: str
    content_hash: str
    # Where each page starts in `text` (PDF): page n begins at pages[n - 1]; None otherwise.
    pages: list[int] | None = None

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) holding character `offset` of `text`, or None without pages."""
        if not self.pages:
            return None
        return max(1, bisect.bisect_right(self.pages, offset))


@dataclass(frozen=True)
class Limits:
    """What one document may expand to once read; the settings of the same names."""

    max_document_chars: int = DEFAULT_MAX_DOCUMENT_CHARS
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES

    @classmethod
    def of(cls, settings) -> Limits:
        """The limits a `rag.config.Settings` sets."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class LoadResult:
    documents: list[Document]
    skipped: list[Skipped]


def load_corpus(
    folder: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits = Limits(),
) -> LoadResult:
    """The articles of `folder` (recursively), and every other file skipped with its reason.

    Only regular files the user put in the folder are read: a link to a file outside it (an
    `ln -s /etc/passwd` took the password file into the index), a FIFO, a device or a socket
    are skipped, as are unsupported types. Hidden files and folders (`.git`, `.DS_Store`) are
    passed over silently. `progress(done, total)` is called after each file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(
            f"Article folder {folder} does not exist: "
            "give a folder of .txt/.md/.html/.pdf/.docx files."
        )
    readable, skipped = _corpus_files(folder)
    for item in skipped:
        log.warning("skipped %s: %s", item.path, item.reason)
    documents = []
    for done, (path, target) in enumerate(readable, 1):
        doc_id = str(path.relative_to(folder).with_suffix("")).replace(os.sep, "__")
        try:
            document = load_document(target, max_bytes, doc_id=doc_id, limits=limits)
            documents.append(dataclasses.replace(document, path=str(path)))
        except CorpusError as exc:
            log.warning("skipped %s: %s", path, exc)
            skipped.append(Skipped(str(path), str(exc)))
        if progress:
            progress(done, len(readable))
    return LoadResult(documents, skipped)


def _corpus_files(folder: Path) -> tuple[list[tuple[Path, Path]], list[Skipped]]:
    """(path, file to read) for each candidate article, and the files skipped with a reason.

    The file to read is the path itself, or the target of a link that stays inside the folder.
    Links to folders are not followed (a loop, or a way out of the folder).
    """
    root = folder.resolve()
    readable, skipped = [], []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in list(subfolders):
            if os.path.islink(os.path.join(directory, name)):
                subfolders.remove(name)
                path = Path(directory, name)
                skipped.append(Skipped(str(path), "a link to a folder: links are not followed"))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(directory, name)
            reason, target = _why_not_readable(path, root)
            if reason:
                skipped.append(Skipped(str(path), reason))
            else:
                readable.append((path, target))
    return sorted(readable), sorted(skipped, key=lambda s: s.path)


def _why_not_readable(path: Path, root: Path) -> tuple[str | None, Path]:
    """Why `path` is not an article to read (None if it is one), and the file to read."""
    target = path
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.is_relative_to(root):
            return f"a link to {target}, outside the article folder: not read", path
        if not target.exists():
            return "a broken link", path
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        return f"cannot be read: {exc.strerror}", path
    if not stat.S_ISREG(mode):
        return f"not a regular file ({_file_kind(mode)}): not read", path
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        kind = path.suffix.lower() or "without a suffix"
        readable = ", ".join(SUPPORTED_SUFFIXES)
        return f"unsupported file type ({kind}): only {readable} are read", path
    return None, target


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a special file"


def load_document(
    path: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    doc_id: str | None = None,
    limits: Limits = Limits(),
) -> Document:
    """One file, cleaned; raises CorpusError with the reason when it cannot be used."""
    path = Path(path)
    data, suffix, doc_id = (
        read_regular_file(path, max_bytes),
        path.suffix.lower(),
        doc_id or path.stem,
    )
    chars = limits.max_document_chars
    if suffix == ".pdf":
        pdf = read_pdf(data, path.name, limits.max_pdf_pages, chars)
        return load_text("", doc_id, str(path), pages=pdf.pages, title=pdf.title, max_chars=chars)
    if suffix == ".docx":
        text, title = read_docx(data, path.name, limits.max_unzipped_bytes, chars)
        return load_text(text, doc_id, str(path), title=title, max_chars=chars)
    is_html = suffix in (".html", ".htm")
    return load_text(decode(data, path.name), doc_id, str(path), is_html, max_chars=chars)


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`.

    Checked on the open file, not on the name: a FIFO put in place after the folder was
    listed cannot block the ingest (O_NONBLOCK) and is refused, and so is a file that grew.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise CorpusError(f"{path.name} cannot be read: {exc.strerror}.") from exc
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CorpusError(f"{path.name} is not a regular file ({_file_kind(info.st_mode)}).")
        if info.st_size > max_bytes:
            raise CorpusError(
                f"{path.name} is {info.st_size:,} bytes, over the {max_bytes:,} byte limit: "
                "split it or raise the limit."
            )
        try:
            data = file.read(max_bytes + 1)
        except OSError as exc:
            raise CorpusError(f"{path.name} cannot be read: {exc.strerror}.") from exc
    if len(data) > max_bytes:
        raise CorpusError(f"{path.name} grew past the {max_bytes:,} byte limit while read.")
    return data


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; binary data is refused."""
    if b"\x00" in data[:65536]:
        raise CorpusError(f"{name} looks binary (NUL bytes), not an article: remove it.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{name} is neither UTF-8 nor Windows-1252 text: re-save it as UTF-8."
        ) from exc
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t")
    if controls > len(text) // 100:
        raise CorpusError(f"{name} holds control characters, not text: re-save it as UTF-8.")
    return text


def load_text(
    raw: str,
    doc_id: str,
    path: str = "",
    is_html: bool = False,
    *,
    pages: list[str] | None = None,
    title: str | None = None,
    date: str | None = None,
    url: str | None = None,
    max_chars: int = DEFAULT_MAX_DOCUMENT_CHARS,
) -> Document:
    """The cleaning pipeline on text already in memory (files, uploads, fetched pages).

    `pages` (a PDF's) replaces `raw`: the pages are cleaned as one text, and where each one
    starts in the cleaned text is kept, so that any offset maps to its page. `title`, `date`
    and `url` given win over what the text says. A text over `max_chars` (an HTML page's
    main text, once extracted) is refused before it is cleaned.
    """
    if pages is not None:
        raw = PAGE_BREAK.join(page.replace(PAGE_MARK, "") for page in pages)
    if is_html:
        raw, html_title, html_date, html_url = _from_html(raw, doc_id)
        title, date, url = title or html_title, date or html_date, url or html_url
    check_length(len(raw), Path(path).name or doc_id, max_chars)
    text = repair_mojibake(raw).replace("\r\n", "\n").replace("\r", "\n")
    text, line_url = _take_reference_url(text)
    url = url or line_url
    text, line_date = _take_date_line(text)
    text = strip_boilerplate(text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    starts = None
    if pages is not None:
        text, starts = _page_starts(text)
    text = text.strip()
    if not text:
        raise CorpusError(f"{Path(path).name or doc_id} holds no article text: remove it.")
    date = date or line_date or find_date(text[:600])
    title = title or make_title(text, doc_id)
    language = detect_document_language(text)
    fields = [text, title, date or "", url or ""] + ([str(starts)] if starts else [])
    digest = hashlib.sha256("\x1f".join(fields).encode())
    return Document(
        doc_id=doc_id,
        text=text,
        title=title,
        date=date,
        url=url,
        language=language,
        path=path,
        content_hash=digest.hexdigest(),
        pages=starts,
    )


# Pages are cleaned as one text with this mark between them (a private-use character: the
# cleaning keeps it, and no line rule takes it for whitespace), then the marks are taken out
# and where each page starts is recorded. Cleaning per page would lose the date line, the
# reference URL and the teaser list that span the whole article.
PAGE_MARK = "\ue000"
PAGE_BREAK = f"\n{PAGE_MARK}\n"


def _page_starts(text: str) -> tuple[str, list[int]]:
    """The text without page marks, pages separated by a blank line, and each page's start."""
    cleaned, starts = "", []
    for page in text.split(PAGE_MARK):
        page = page.strip()
        if page and cleaned:
            cleaned += "\n\n"
        starts.append(len(cleaned))
        cleaned += page
    return cleaned, starts


# --- encoding repair -------------------------------------------------------------------------
# Hand-written because ftfy does not know ISO-8859-16: seed 004 is UTF-8 bytes decoded as
# ISO-8859-16 with the C1 bytes (0x80-0x9F) read as Windows-1252. A run of characters that maps
# back to the bytes of one UTF-8 character is repaired only when the text is damaged and the
# run decodes to a character that text holds; ftfy then handles the cases it does know.
# Correct text has such runs too: "« CAFÉ»" holds "É»", the bytes of "ɻ" (an IPA letter), and
# "CÔTÉ–EST" holds "É–", the bytes of "ɖ"; both are left alone.


def _byte_candidates() -> dict[str, list[int]]:
    candidates: dict[str, list[int]] = {}
    for byte in range(256):
        chars = {bytes([byte]).decode("iso-8859-16")}
        if 0x80 <= byte <= 0x9F:
            try:
                chars = {bytes([byte]).decode("cp1252")}
            except UnicodeDecodeError:
                pass  # undefined in cp1252 (0x81, 0x8D, ...): the C1 control itself
        for char in chars:
            candidates.setdefault(char, []).append(byte)
    return candidates


_BYTES = _byte_candidates()


def _chars_for(low: int, high: int) -> str:
    return "".join(re.escape(c) for c, b in _BYTES.items() if any(low <= x <= high for x in b))


_CONTINUATION = f"[{_chars_for(0x80, 0xBF)}]"
# A lead character followed by exactly the continuation characters its byte calls for, so
# that "Ă©»" is "é" and a real "»".
_MOJIBAKE = re.compile(
    f"[{_chars_for(0xC2, 0xDF)}]{_CONTINUATION}"
    f"|[{_chars_for(0xE0, 0xEF)}]{_CONTINUATION}{{2}}"
    f"|[{_chars_for(0xF0, 0xF4)}]{_CONTINUATION}{{3}}"
)
# What a repaired run may become: Latin letters and signs, punctuation, currency, symbols and
# emoji. Correct text whose runs happen to decode would give IPA letters, Armenian, Syriac or
# CJK instead. Where a character stands for two bytes ("€" is 0x80 in cp1252 and 0xA4 in
# ISO-8859-16; "š" is 0x9A and 0xA8), the reading that gives these wins, and on a tie the
# ISO-8859-16 byte, since C1 bytes are rare in text.
_ORDINARY = (
    (0x00A0, 0x017F),  # Latin-1 letters and signs, Latin Extended-A (ă, ł, ő, ş, ž)
    (0x0192, 0x0192),  # ƒ
    (0x0218, 0x021B),  # Ș ș Ț ț
    (0x2000, 0x206F),  # general punctuation: dashes, quotes, ellipsis, joiners
    (0x20A0, 0x20CF),  # currency
    (0x2100, 0x21FF),  # letterlike (™, №) and arrows
    (0x2600, 0x27BF),  # symbols and dingbats
    (0x2B00, 0x2BFF),  # more symbols (⭐)
    (0xFE00, 0xFE0F),  # variation selectors of emoji
    (0x1F000, 0x1FAFF),  # emoji and flags
)


def _ordinary(text: str) -> int:
    return sum(any(low <= ord(c) <= high for low, high in _ORDINARY) for c in text)


def _decoded(run: str) -> str | None:
    """The character whose UTF-8 bytes `run` shows, when it is one text holds, else None."""
    best, best_key = None, None
    for choice in itertools.product(*(_BYTES[c] for c in run)):
        try:
            decoded = bytes(choice).decode("utf-8")
        except UnicodeDecodeError:
            continue
        key = (_ordinary(decoded), sum(b >= 0xA0 for b in choice))
        if best_key is None or key > best_key:
            best, best_key = decoded, key
    if best is None or _ordinary(best) < len(best):
        return None
    return best


def _damaged(text: str) -> bool:
    """Whether `text` holds mojibake: a run that decodes inside a word ("coopĂ©ration"),
    something correct text has no reason to write."""
    for match in _MOJIBAKE.finditer(text):
        start, end = match.span()
        inside = 0 < start and end < len(text) and text[start - 1].isalpha()
        if inside and text[end].isalpha() and _decoded(match.group(0)):
            return True
    return False


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as ISO-8859-16/cp1252 where the text is damaged, then let ftfy fix
    the encoding damage it knows; correct text is returned as it is."""
    import ftfy

    if _damaged(text):
        text = _MOJIBAKE.sub(lambda m: _decoded(m.group(0)) or m.group(0), text)
    return ftfy.fix_text(text, uncurl_quotes=False, fix_line_breaks=False, normalization="NFC")


# --- boilerplate -----------------------------------------------------------------------------
# Only whole short lines go, and only those that cannot be a sentence of the article: a share
# or print bar (every word a widget word: "Partager sur Facebook Partager sur X"), a
# "Lire aussi : <headline>" link, a "Cliquez ici pour..." call with no sentence after it, a
# redirect notice. "Share prices fell sharply...", "Partager les risques entre États membres..."
# and "Partager un billet entre amis sera désormais interdit." stay.

SHORT_LINE_WORDS = 12  # a share bar or a "click here" call
HEADLINE_WORDS = 25  # a "Lire aussi : headline" link
_ACTIONS = {"partager", "partagez", "share", "tweet", "tweeter", "imprimer", "print", "envoyer"}
_WIDGET_WORDS = _ACTIONS | {
    "sur", "on", "via", "par", "by", "to", "à", "et", "and", "ou", "or", "this", "cet",
    "article", "l'article", "l’article", "page", "story", "post", "lien", "link", "le",
    "copier", "copy", "email", "e-mail", "mail", "courriel", "facebook", "twitter", "x",
    "linkedin", "whatsapp", "messenger", "telegram", "pinterest", "reddit", "bluesky",
    "threads", "mastodon", "flipboard",
}  # fmt: skip
_WORD = re.compile(r"[\w'’-]+")
_LINK = re.compile(r"^\W*(?:à |a )?(?:lire|voir) aussi\s*[:|]|^\W*(?:read|see) also\s*[:|]", re.I)
_CLICK = re.compile(r"^\W*(?:cliquez ici|click here)\b", re.IGNORECASE)
_REDIRECT = re.compile(
    r"^\W*(?:redirection en cours|si vous n.?[êe]tes pas redirig|you are being redirected"
    r"|if you are not redirected)",
    re.IGNORECASE,
)
_MORE = re.compile(r"^\W*(?:lire la suite|read more|continue reading)\W*$", re.IGNORECASE)
_SECOND_SENTENCE = re.compile(r"[.!?…]\s+\w")
_TEASER_HEADINGS = {
    "articles",
    "related articles",
    "à lire aussi",
    "lire aussi",
    "sur le même sujet",
    "read also",
    "more articles",
    "articles similaires",
}


def is_boilerplate(line: str) -> bool:
    """Whether a whole line is page furniture rather than a sentence of the article."""
    words = _WORD.findall(line.lower())
    if not words:
        return False
    one_sentence = not _SECOND_SENTENCE.search(line.strip())
    if _MORE.match(line):
        return True
    if len(words) <= SHORT_LINE_WORDS:
        if set(words) <= _WIDGET_WORDS and set(words) & _ACTIONS:
            return True
        if one_sentence and (_CLICK.match(line) or _REDIRECT.match(line)):
            return True
    return len(words) <= HEADLINE_WORDS and one_sentence and bool(_LINK.match(line))


def strip_boilerplate(text: str) -> str:
    """Drop share bars, "Lire aussi" links, "click here" and redirect lines, and a trailing
    list of unrelated teasers."""
    lines = [line for line in text.split("\n") if not is_boilerplate(line)]
    for i, line in enumerate(lines):
        if line.strip().lower().rstrip(" :") not in _TEASER_HEADINGS:
            continue
        before = sum(len(x) for x in lines[:i])
        after = [x.strip() for x in lines[i + 1 :] if x.strip()]
        teasers = sum(1 for x in after if x.endswith(("...", "…")))
        # Teasers cut short ("...") and their titles only: any other line is the article's.
        headlines = all("..." in x or "…" in x or _headline(x) for x in after)
        if before > 0.6 * sum(len(x) for x in lines) and teasers >= 2 and headlines:
            lines = lines[:i]
            break
    return "\n".join(lines)


def _headline(line: str) -> bool:
    """A teaser's title: short, with no sentence ending."""
    return len(_WORD.findall(line)) <= HEADLINE_WORDS and not line.endswith((".", "!", "?"))


# --- metadata --------------------------------------------------------------------------------

_MONTHS = {
    "janvier": 1,
    "février": 2,
    "fevrier": 2,
    "mars": 3,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "août": 8,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "décembre": 12,
    "decembre": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?\b")
_FRENCH_DATE = re.compile(r"\b(\d{1,2})(?:er)?\s+([a-zéû]+)\s+(\d{4})\b", re.IGNORECASE)
_ENGLISH_DATE = re.compile(r"\b([A-Z][a-z]+)\s+(\d{1,2}),?\s+(\d{4})\b")
# A date that opens the text as metadata: after "date" (" date 2024-07 Le Premier ministre"),
# or alone on the first line ("2025-03-20 09:01:00"); "2019-20: the season" is a title.
_DATE_LINE = re.compile(
    r"^\s*(?:date\s+(\d{4}-\d{2}(?:-\d{2})?)(?:[ T]\d{2}:\d{2}(?::\d{2})?)?\s+"
    r"|(\d{4}-\d{2}(?:-\d{2})?)(?:[ T]\d{2}:\d{2}(?::\d{2})?)?[ \t]*(?:\n|$))",
    re.IGNORECASE,
)
_REFERENCE = re.compile(
    r"^\s*(?:article en référence|source|lien|url)\s*:\s*(https?://\S+)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def find_date(text: str) -> str | None:
    """The first date written in the text, as ISO (`2024-12-20` or `2024-07`)."""
    found = []
    for match in _ISO_DATE.finditer(text):
        year, month, day = match.groups()
        if 1 <= int(month) <= 12:
            found.append((match.start(), f"{year}-{month}" + (f"-{day}" if day else "")))
    for match in _FRENCH_DATE.finditer(text):
        day, month, year = match.groups()
        if month.lower() in _MONTHS:
            found.append((match.start(), f"{year}-{_MONTHS[month.lower()]:02d}-{int(day):02d}"))
    for match in _ENGLISH_DATE.finditer(text):
        month, day, year = match.groups()
        if month.lower() in _MONTHS:
            found.append((match.start(), f"{year}-{_MONTHS[month.lower()]:02d}-{int(day):02d}"))
    return min(found)[1] if found else None


def _take_date_line(text: str) -> tuple[str, str | None]:
    """A leading metadata date (`2025-03-20 09:01:00`, ` date 2024-07 `) is removed and kept."""
    match = _DATE_LINE.match(text)
    date = match and (match.group(1) or match.group(2))
    if not date or not 1 <= int(date[5:7]) <= 12:
        return text, None
    return text[match.end() :], date


def _take_reference_url(text: str) -> tuple[str, str | None]:
    """The "Article en référence: URL" line becomes metadata (and leaves the text)."""
    match = _REFERENCE.search(text)
    if match:
        return text[: match.start()] + text[match.end() :], match.group(1)
    found = re.search(r"https?://[^\s)>\]]+", text)
    return text, found.group(0) if found else None


def make_title(text: str, doc_id: str) -> str:
    """The first line, without emoji and hashtags, cut to its first sentence when long."""
    for line in text.split("\n"):
        line = re.sub(r"#\w+", "", line.lstrip("#").strip())
        line = "".join(c for c in line if c.isalnum() or c.isspace() or c in ".,;:!?'’«»\"()-–")
        line = " ".join(line.split()).strip(" -–")
        if len(line) < 3:
            continue
        if len(line) > TITLE_MAX_CHARS:
            first = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
            line = (
                first
                if len(first) <= TITLE_MAX_CHARS
                else (line[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] + "…")
            )
        return line
    return doc_id


def _from_html(raw: str, doc_id: str) -> tuple[str, str | None, str | None, str | None]:
    import trafilatura

    # trafilatura logs "discarding data: None" for a page with too little text; we say it
    # ourselves, naming the file (CorpusError below).
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = trafilatura.extract(raw, include_comments=False, include_tables=False)
    if not text:
        raise CorpusError(f"{doc_id}: no article text found in the HTML.")
    meta = trafilatura.extract_metadata(raw)
    title = meta.title if meta and meta.title else None
    date = meta.date if meta and meta.date else None
    url = meta.url if meta and meta.url else None
    return text, title, date, url
