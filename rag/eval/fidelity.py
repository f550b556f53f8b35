"""Ingest fidelity: how many characters of clean articles the cleaning loses or changes.

Each article file is read through the ingest (`load_corpus`: decoding, encoding repair,
boilerplate, metadata), and each sentence of the file is aligned with the cleaned text
(difflib). A sentence's loss is the number of its characters that the cleaned text does not
hold in place. Runs of ASCII whitespace count as one space: the cleaning may rejoin lines.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.chunking import split_sentences
from rag.ingest.corpus import load_corpus

_SPACES = re.compile(r"[ \t\r\n]+")


def normalize(text: str) -> str:
    """`text` with every run of ASCII whitespace made one space (other spaces kept)."""
    return _SPACES.sub(" ", text).strip()


def sentences(text: str) -> list[str]:
    """The sentences of an article file, line by line, whitespace-normalized."""
    found = []
    for line in text.split("\n"):
        found += [normalize(line[start:end]) for start, end in split_sentences(line)]
    return [s for s in found if s]


@dataclass
class ArticleFidelity:
    name: str
    characters: int = 0
    lost: int = 0  # characters of the file's sentences lost or changed by the cleaning
    damaged: list[tuple[str, int]] = field(default_factory=list)  # (sentence, characters lost)
    skipped: str | None = None  # why the ingest refused the whole file


def measure_article(name: str, source: str, cleaned: str) -> ArticleFidelity:
    """The characters of `source`'s sentences that `cleaned` does not hold in place."""
    parts = sentences(source)
    joined = " ".join(parts)
    target = normalize(cleaned)
    matcher = difflib.SequenceMatcher(None, joined, target, autojunk=False)
    kept = bytearray(len(joined))
    for block in matcher.get_matching_blocks():
        kept[block.a : block.a + block.size] = b"\x01" * block.size
    result = ArticleFidelity(name, characters=len(joined) - (len(parts) - 1))
    offset = 0
    for sentence in parts:
        lost = len(sentence) - sum(kept[offset : offset + len(sentence)])
        if lost:
            result.damaged.append((sentence, lost))
            result.lost += lost
        offset += len(sentence) + 1
    return result


def measure_folder(folder: str | Path) -> list[ArticleFidelity]:
    """Every article of `folder` read through the ingest and measured."""
    folder = Path(folder)
    loaded = load_corpus(folder)
    cleaned = {Path(d.path).name: d.text for d in loaded.documents}
    results = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        source = path.read_text(encoding="utf-8")
        if path.name in cleaned:
            results.append(measure_article(path.name, source, cleaned[path.name]))
        else:
            reason = next((s.reason for s in loaded.skipped if Path(s.path) == path), "skipped")
            total = len(" ".join(sentences(source)))
            results.append(ArticleFidelity(path.name, total, total, skipped=reason))
    return results
