"""Articles from the web: lists of page URLs and RSS/Atom feeds, kept beside the index.

Every page fetched is saved in the index's `web/` folder (the page's HTML, or the feed item's
own text when the page could not be used) and recorded in `web/pages.json` with its URL, so a
re-ingest or a rebuild reads the saved copies and never the network. `feeds.json` beside the
index remembers the items of each feed already taken: a second run adds only new items.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import DEFAULT_MAX_DOCUMENT_CHARS
from rag.errors import ConfigError, CorpusError
from rag.ingest.corpus import (
    DEFAULT_MAX_BYTES,
    Document,
    Limits,
    LoadResult,
    Skipped,
    decode,
    load_text,
    read_regular_file,
)

log = logging.getLogger(__name__)

WEB = "web"
PAGES = "pages.json"
FEEDS = "feeds.json"
USER_AGENT = "rag-news/0.1 (cited-answer chatbot; fetches the articles it is given)"
FETCH_TIMEOUT = 20.0  # seconds for one page or feed
DOC_ID_CHARS = 60
# A fetched page whose main text is shorter than this holds no article: a menu, a paywall, a
# page drawn by JavaScript (trafilatura finds "Accueil A" in a page of links).
MIN_PAGE_CHARS = 200

# progress(stage, done, total), as in rag.index.engine
Progress = Callable[[str, int, int], None]


class FetchError(CorpusError):
    """A page or feed could not be downloaded."""


def fetch(url: str, timeout: float = FETCH_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The body of `url` (http or https only), at most `max_bytes`; FetchError says why not.

    Written with urllib rather than trafilatura's `fetch_url`, which returns None on any
    failure: a skipped page must say why (HTTP 404, too big, unreachable, a redirect to ftp://).
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http:// and https:// addresses are fetched.")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"{url}: {int(length):,} bytes, over the {max_bytes:,} limit.")
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}.") from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"{url}: cannot be reached ({exc.reason}).") from exc
    except (TimeoutError, OSError) as exc:
        raise FetchError(f"{url}: download failed ({type(exc).__name__}: {exc}).") from exc
    if len(body) > max_bytes:
        raise FetchError(f"{url}: over the {max_bytes:,} byte limit.")
    return body


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib's own also follows them to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise FetchError(f"{req.full_url}: redirected to {newurl}, not an http(s) address.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# --- URL lists -------------------------------------------------------------------------------


def read_url_list(path: str | Path) -> list[str]:
    """The URLs of a list file: every line that is not blank and does not start with # must be
    an http(s) URL (else ConfigError naming the line). Duplicates are dropped."""
    path = Path(path)
    if path.suffix.lower() in (".pdf", ".docx", ".html", ".htm", ".md"):
        raise ConfigError(
            f"{path} is an article, not a list of URLs: give the folder that holds it "
            "(`rag ingest FOLDER`)."
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read as a list of URLs: {exc}.") from exc
    urls = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not re.match(r"https?://\S+$", line):
            raise ConfigError(
                f"{path}, line {number}: {line[:60]!r} is not an http(s) URL. A file given to "
                "`rag ingest` is a list of URLs, one a line (# starts a comment); give a "
                "folder to ingest article files."
            )
        if line not in urls:
            urls.append(line)
    if not urls:
        raise ConfigError(f"{path} lists no URL: write one http(s) URL a line.")
    return urls


# --- the stored pages ------------------------------------------------------------------------


@dataclass
class Fetched:
    """What fetching did: doc_ids of pages saved, pages already saved, and pages skipped."""

    added: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


class WebStore:
    """The pages fetched for one index: `INDEX_DIR/web/*.html|*.txt` + `web/pages.json`."""

    def __init__(self, index_dir: str | Path) -> None:
        self.folder = Path(index_dir) / WEB
        self._records: dict[str, dict] | None = None

    @property
    def records(self) -> dict[str, dict]:
        """file name -> {url, title, date, feed, fetched}."""
        if self._records is None:
            try:
                self._records = json.loads((self.folder / PAGES).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._records = {}
        return self._records

    def urls(self) -> list[str]:
        return sorted(record["url"] for record in self.records.values())

    def has(self, url: str) -> bool:
        return any(record["url"] == url for record in self.records.values())

    def save(self, url: str, text: str, suffix: str, **metadata) -> str:
        """Keep one page (its HTML, or plain text); returns its doc_id."""
        doc_id = doc_id_for(url)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = doc_id + suffix
        _write_atomically(self.folder / name, text)
        fetched = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.records[name] = {"url": url, **metadata, "fetched": fetched}
        _write_atomically(self.folder / PAGES, json.dumps(self.records, indent=1))
        return doc_id

    def load(
        self, progress: Callable[[int, int], None] | None = None, limits: Limits = Limits()
    ) -> LoadResult:
        """The saved pages as documents, each with the URL it was fetched from."""
        documents, skipped = [], []
        records = sorted(self.records.items())
        for done, (name, record) in enumerate(records, 1):
            path = self.folder / name
            try:
                documents.append(load_page(path, record, limits.max_document_chars))
            except CorpusError as exc:
                skipped.append(Skipped(str(path), str(exc)))
            if progress:
                progress(done, len(records))
        return LoadResult(documents, skipped)


def load_page(path: Path, record: dict, max_chars: int = DEFAULT_MAX_DOCUMENT_CHARS) -> Document:
    """One saved page, cleaned like an article file; the fetched URL is its url."""
    raw = decode(read_regular_file(path, DEFAULT_MAX_BYTES), path.name)
    return load_text(
        raw,
        path.stem,
        str(path),
        is_html=path.suffix == ".html",
        title=record.get("title"),
        date=record.get("date"),
        url=record["url"],
        max_chars=max_chars,
    )


def doc_id_for(url: str) -> str:
    """A readable, stable id: host and last path words, and a hash of the whole URL."""
    parts = urllib.parse.urlsplit(url)
    words = re.sub(r"\.[a-z0-9]{2,5}$", "", parts.path.rstrip("/").rsplit("/", 1)[-1].lower())
    slug = re.sub(r"[^a-z0-9]+", "-", f"{parts.hostname or 'page'} {words}").strip("-")
    digest = hashlib.sha1(url.encode()).hexdigest()[:8]
    return f"{slug[:DOC_ID_CHARS].rstrip('-')}-{digest}"


def fetch_pages(
    store: WebStore,
    urls: list[str],
    timeout: float = FETCH_TIMEOUT,
    progress: Progress | None = None,
) -> Fetched:
    """Download the pages not saved yet; a page that fails or holds no article is skipped
    with its reason and not saved (so the next run tries it again)."""
    result = Fetched()
    for done, url in enumerate(urls, 1):
        if store.has(url):
            result.known.append(url)
        else:
            try:
                result.added.append(_fetch_page(store, url, timeout))
            except CorpusError as exc:
                log.warning("skipped %s", exc)
                result.skipped.append(Skipped(url, str(exc)))
        if progress:
            progress("fetching", done, len(urls))
    return result


def _fetch_page(store: WebStore, url: str, timeout: float, **metadata) -> str:
    page = decode_page(fetch(url, timeout), url)
    document = load_text(page, doc_id_for(url), url, is_html=True, url=url)
    if len(document.text) < MIN_PAGE_CHARS:
        raise CorpusError(
            f"{url}: no article in the page (only {len(document.text)} characters of text: "
            "a menu, a paywall or a page drawn by JavaScript?)."
        )
    return store.save(url, page, ".html", **_page_metadata(page), **metadata)


def decode_page(data: bytes, url: str) -> str:
    """UTF-8, else the charset the page declares (`<meta charset>`), else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = re.search(rb"""charset=["']?([\w.:-]+)""", data[:4096], re.IGNORECASE)
    if declared and b"\x00" not in data[:65536]:
        try:
            return data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode(data, url)


def _page_metadata(page: str) -> dict:
    """The page's author and site name, recorded in `pages.json` (not cited)."""
    import trafilatura

    meta = trafilatura.extract_metadata(page)
    found = {"author": meta.author, "site": meta.sitename} if meta else {}
    return {key: value for key, value in found.items() if value}


# --- feeds -----------------------------------------------------------------------------------


def read_feed_state(index_dir: str | Path) -> dict[str, dict]:
    """feed URL -> {"seen": [item ids], "checked": time}."""
    try:
        state = json.loads((Path(index_dir) / FEEDS).read_text(encoding="utf-8"))
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def fetch_feeds(
    index_dir: str | Path,
    feeds: list[str],
    timeout: float = FETCH_TIMEOUT,
    progress: Progress | None = None,
) -> Fetched:
    """Save the items of each feed not taken before; remember them in `feeds.json`.

    Each item's page is fetched and extracted; when that fails, the item's own content (or
    summary) from the feed is kept instead. An item with neither is skipped, not remembered.
    """
    import feedparser

    store = WebStore(index_dir)
    state = read_feed_state(index_dir)
    result = Fetched()
    for feed_url in feeds:
        try:
            parsed = feedparser.parse(fetch(feed_url, timeout))
        except CorpusError as exc:
            result.skipped.append(Skipped(feed_url, str(exc)))
            continue
        if parsed.bozo and not parsed.entries:
            reason = f"{feed_url}: not an RSS or Atom feed ({parsed.get('bozo_exception')})."
            result.skipped.append(Skipped(feed_url, reason))
            continue
        record = state.setdefault(feed_url, {"seen": []})
        seen = set(record["seen"])
        fresh = [e for e in parsed.entries if _item_id(e) and _item_id(e) not in seen]
        for done, entry in enumerate(fresh, 1):
            item = _item_id(entry)
            link = entry.get("link") or ""
            try:
                if link and store.has(link):
                    result.known.append(link)
                else:
                    result.added.append(_save_item(store, feed_url, entry, timeout))
                record["seen"].append(item)
            except CorpusError as exc:  # not remembered: tried again on the next run
                result.skipped.append(Skipped(link or item, str(exc)))
            if progress:
                progress("fetching", done, len(fresh))
        record["checked"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        Path(index_dir).mkdir(parents=True, exist_ok=True)
        _write_atomically(Path(index_dir) / FEEDS, json.dumps(state, indent=1))
    return result


def _item_id(entry) -> str:
    return entry.get("id") or entry.get("link") or ""


def _save_item(store: WebStore, feed_url: str, entry, timeout: float) -> str:
    link = entry.get("link") or ""
    metadata = {"feed": feed_url, "title": entry.get("title"), "date": _item_date(entry)}
    metadata = {key: value for key, value in metadata.items() if value}
    problem = None
    if link:
        try:
            return _fetch_page(store, link, timeout, **metadata)
        except CorpusError as exc:
            problem = str(exc)
    text = _item_text(entry)
    url = link or _item_id(entry)
    if not text:
        raise CorpusError(problem or f"{url}: the feed item has no link and no text.")
    load_text(text, doc_id_for(url), url, url=url, **_text_metadata(metadata))  # raises if empty
    log.warning("%s; kept the feed's text of the item instead", problem or url)
    return store.save(url, text, ".txt", **metadata)


def _text_metadata(metadata: dict) -> dict:
    return {key: metadata.get(key) for key in ("title", "date")}


def _item_text(entry) -> str:
    """The item's content (else its summary) as plain text, paragraphs kept."""
    parts = entry.get("content") or []
    raw = parts[0].get("value", "") if parts else entry.get("summary", "")
    raw = re.sub(r"(?i)<br\s*/?>|</p>|</h\d>|</li>|</div>", "\n\n", raw)
    text = html.unescape(re.sub(r"<[^>]+>", "", raw))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _item_date(entry) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return time.strftime("%Y-%m-%d", parsed) if parsed else None


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:6]}"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
