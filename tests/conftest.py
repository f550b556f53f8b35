"""Shared fixtures and test doubles (passed in explicitly, never switched on by detection)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.index.embedders import Embedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


def free_port() -> int:
    """A port nothing listens on, for a test server on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """A Gradio app on a free port of 127.0.0.1: its address while the block runs."""
    from ui.app import launch

    port = free_port()
    launch(app, "127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()


def stop(process: subprocess.Popen) -> None:
    """Stop a test server: politely, then for good after 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


class HashingEmbedder(Embedder):
    """Bag of hashed words: texts sharing words get close vectors, others do not."""

    id = "test:hashing"
    dimension = 256

    def __init__(self):
        self.calls: list[int] = []  # batch sizes, to count what was embedded

    def embed_batch(self, texts, is_query):
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w{3,}", text.lower()):
                bucket = int(hashlib.md5(word[:6].encode()).hexdigest(), 16) % self.dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out

    @property
    def embedded(self) -> int:
        return sum(self.calls)


class ScriptedLLM:
    """Replies with a function of the prompt it got, and records every prompt."""

    kind = "test"

    def __init__(self, reply, name="scripted"):
        self.reply = reply
        self.name = name
        self.prompts: list[list[dict]] = []
        self.schemas: list[dict | None] = []

    def judge(self, system, asked, passages, ask):
        return None  # as a backend without token probabilities

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        self.prompts.append(messages)
        self.schemas.append(schema)
        text = self.reply(messages) if callable(self.reply) else self.reply
        for start in range(0, len(text), 7):
            yield text[start : start + 7]


def json_reply(sentences, answerable=True) -> str:
    return json.dumps({"answerable": answerable, "sentences": sentences}, ensure_ascii=False)


@pytest.fixture
def seed_copy(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def hashing_embedder():
    return HashingEmbedder()


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    """A Retriever over the seeds, indexed with the hashing embedder (fast, no model)."""
    from rag.answering.retrieval import Retriever
    from rag.index.store import build_index, load_index
    from rag.ingest.corpus import load_corpus

    embedder = HashingEmbedder()
    index_dir = tmp_path_factory.mktemp("index")
    build_index(load_corpus(SEEDS).documents, embedder, index_dir, 128, 24)
    return Retriever(load_index(index_dir), embedder)


@pytest.fixture(scope="session")
def questions() -> list[dict]:
    return [
        json.loads(line)
        for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def tiny_pdf(pages: list[list[str]], title: str) -> bytes:
    """A real PDF with one line of Helvetica text per string, one page per list.

    Written by hand (no PDF writer is a dependency): Latin-1 text in WinAnsiEncoding, an xref
    table with exact offsets, and the title in the document information.
    """

    def literal(text: str) -> bytes:
        raw = text.encode("cp1252")
        return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]  # the page tree is filled in below
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    objects.append(b"<< /Title " + literal(title) + b" >>")
    kids = []
    for lines in pages:
        stream = (
            b"BT /F1 11 Tf 14 TL 56 780 Td "
            + b" ".join(literal(line) + b" ' " for line in lines)
            + b"ET"
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def expansion_bomb_docx(path: Path, xml_bytes: int, paragraph: str = "x") -> Path:
    """A real .docx (python-docx's template) whose document.xml repeats `paragraph` until it
    holds `xml_bytes` of XML, written as a stream and packed at the highest level: 400 MB of
    one-letter paragraphs pack into a 1.2 MB file."""
    import io
    import zipfile
    from xml.sax.saxutils import escape

    import docx

    template = io.BytesIO()
    docx.Document().save(template)
    element = f"<w:p><w:r><w:t>{escape(paragraph)}</w:t></w:r></w:p>".encode()
    block = element * max(1, 1_000_000 // len(element))
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != "word/document.xml":
                bomb.writestr(info.filename, data)
                continue
            head, tail = data.split(b"<w:body>", 1)
            with bomb.open(info.filename, "w", force_zip64=True) as part:
                part.write(head + b"<w:body>")
                for _ in range(0, xml_bytes, len(block)):
                    part.write(block)
                part.write(tail)
    return path
