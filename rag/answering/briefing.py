"""Briefing notes: cited answers gathered into one Markdown or Word note with global references."""

from __future__ import annotations

import datetime
import html
import re
from dataclasses import dataclass
from pathlib import Path

from rag.answering.answer import Answer, Source
from rag.errors import ConfigError
from rag.text import majority_language, whole_words

SUFFIXES = (".md", ".docx")
TITLES = {"fr": "Note de synthèse", "en": "Briefing note"}
REFERENCES = {"fr": "Références", "en": "References"}
QUOTES = {"fr": ("« ", " »"), "en": ("“", "”")}

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass
class _Block:
    """One paragraph: a title, date, question, notice, answer, heading or reference."""

    kind: str
    text: str
    number: int | None = None
    quotes: tuple[str, ...] = ()  # an answer's short quotes, set in bold


def emphasised(text: str, quotes) -> list[tuple[str, bool]]:
    """`text` cut into (piece, bold) pieces: the first place each quote stands in (whole
    words) is bold, the rest is not."""
    for quote in quotes:
        found = whole_words(quote, text)
        if found:
            rest = [q for q in quotes if q != quote]
            return [
                *emphasised(text[: found.start()], rest),
                (found.group(0), True),
                *emphasised(text[found.end() :], rest),
            ]
    return [(text, False)] if text else []


def with_bold_quotes(text: str, quotes, escape: bool = True) -> str:
    """`text` as Markdown with its quotes in bold (see `emphasised`); `escape` everything else
    Markdown would read (article text is data, see `escape_markdown`)."""
    shown = escape_markdown if escape else str
    return "".join(
        f"**{shown(piece)}**" if bold else shown(piece) for piece, bold in emphasised(text, quotes)
    )


def escape_markdown(text: str) -> str:
    """`text` shown as it is by a Markdown renderer: no HTML, images, links or emphasis.

    Article text is data: an article holding `<img src=x onerror=…>` or `![](http://…)`
    must not load an image or restyle the page where it is quoted.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$^=:])")


def render_markdown(
    answers: list[Answer],
    title: str | None = None,
    date: str | None = None,
    language: str = "fr",
    escape: bool = False,
) -> str:
    """The note as plain Markdown; `escape` for showing it in a browser (the preview)."""
    markup = {"title": "# {}", "question": "## {}", "heading": "## {}", "notice": "*{}*"}
    text = ""
    previous = None
    for block in _blocks(answers, title, date, language):
        content = with_bold_quotes(block.text, block.quotes, escape)
        if block.kind == "reference":
            line = f"{block.number}. {content}"
        else:
            line = markup.get(block.kind, "{}").format(content)
        # The references are one list: no blank line between its items.
        joint = "\n" if block.kind == previous == "reference" else "\n\n"
        text += (joint if text else "") + line
        previous = block.kind
    return text + "\n"


def write_docx(
    answers: list[Answer],
    path: str | Path,
    title: str | None = None,
    date: str | None = None,
    language: str = "fr",
) -> Path:
    """The note as a Word file with real headings and a numbered reference list."""
    try:
        import docx
    except ImportError as exc:
        raise ConfigError("Word briefings need `pip install python-docx`.") from exc
    path = Path(path)
    document = docx.Document()
    for block in _blocks(answers, title, date, language):
        if block.kind == "title":
            document.add_heading(block.text, level=0)
            document.core_properties.title = block.text
        elif block.kind in ("question", "heading"):
            document.add_heading(block.text, level=1)
        elif block.kind == "notice":
            document.add_paragraph().add_run(block.text).italic = True
        elif block.kind == "reference":
            document.add_paragraph(block.text, style="List Number")
        else:
            paragraph = document.add_paragraph()
            for piece, bold in emphasised(block.text, block.quotes):
                paragraph.add_run(piece).bold = bold or None
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def write_briefing(
    answers: list[Answer], path: str | Path, title=None, date=None, language="fr"
) -> Path:
    """Write a `.md` or `.docx` note, chosen by the file name's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return write_docx(answers, path, title, date, language)
    if suffix != ".md":
        raise ConfigError(
            f"Cannot write a briefing to {path.name!r}: name the file with .md or .docx."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(answers, title, date, language), encoding="utf-8")
    return path


CONFIDENCE_WORDS = {
    "fr": {"sure": "sûr", "unsure": "incertain"},
    "en": {"sure": "sure", "unsure": "unsure"},
}


def confidence_note(answer: Answer) -> str | None:
    """How sure the answer is, in a word and a number ("sure 0.91", "incertain 0,58"), or
    None when it has no confidence."""
    if answer.refused or answer.confidence is None or answer.confidence_label is None:
        return None
    word = CONFIDENCE_WORDS.get(answer.language, CONFIDENCE_WORDS["en"])[answer.confidence_label]
    number = f"{answer.confidence:.2f}"
    return f"{word} {number.replace('.', ',') if answer.language == 'fr' else number}"


def _blocks(answers: list[Answer], title, date, language) -> list[_Block]:
    """The note's content, shared by both formats so that they say the same thing."""
    language = _note_language(answers, language)
    blocks = [
        _Block("title", title or TITLES[language]),
        _Block("date", date or datetime.date.today().isoformat()),
    ]
    numbers: dict[tuple[str, int, int], int] = {}  # passage → its number in the note
    passages: list[Source] = []
    for answer in answers:
        blocks.append(_Block("question", answer.question))
        if answer.notice:
            blocks.append(_Block("notice", answer.notice))
        if answer.refused:
            blocks.append(_Block("answer", answer.text))
            continue
        local = {}
        for source in answer.sources:
            key = (source.doc_id, source.start, source.end)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                passages.append(source)
            local[source.n] = numbers[key]
        quotes = tuple(s.quote for s in answer.sentences if s.quote)
        blocks.append(_Block("answer", _renumber(answer.text, local), quotes=quotes))
        confidence = confidence_note(answer)
        if confidence:
            blocks.append(_Block("notice", confidence))
    if passages:
        blocks.append(_Block("heading", REFERENCES[language]))
        opening, closing = QUOTES[language]
        for number, source in enumerate(passages, 1):
            page = f"p. {source.page}" if source.page else None
            facts = ", ".join(p for p in (source.title, source.date, page, source.url) if p)
            quote = " ".join(source.text.split())
            blocks.append(_Block("reference", f"{facts} — {opening}{quote}{closing}", number))
    return blocks


def _renumber(text: str, local: dict[int, int]) -> str:
    """Rewrite `[1]`, `[1, 2]` and `[1][2]` to note-wide numbers in one pass (no double mapping)."""

    def replace(match: re.Match) -> str:
        mapped = [local[int(n)] for n in re.findall(r"\d+", match.group(1)) if int(n) in local]
        return f"[{', '.join(map(str, mapped))}]" if mapped else ""

    return _CITATION.sub(replace, text)


def _note_language(answers: list[Answer], language: str) -> str:
    """`fr` or `en`; `auto` takes the language most answers are in."""
    if language == "auto":
        return majority_language([a.language for a in answers])
    if language not in TITLES:
        raise ConfigError(f"Briefing language {language!r}: use fr, en or auto.")
    return language
