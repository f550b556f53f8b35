"""What the chat's events do: plain functions of the service and the event's inputs.

`ui.app` wires them to the layout; tests call them with a fake service, without a browser.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from rag.answering.answer import Answer, Draft
from rag.answering.briefing import render_markdown, write_briefing
from rag.answering.periods import Filters, bounds
from rag.errors import RagError
from ui.labels import ADD_TO_BRIEFING, I18N
from ui.render import chat_message, plain, sources_panel
from ui.timeline import timeline_html

if TYPE_CHECKING:
    from rag.service import Service

STALE_BRIEFING_SECONDS = 3600  # written briefing files older than this are deleted


def respond(
    service: Service,
    message,
    history,
    answers,
    model,
    language,
    top_k,
    temperature,
    since="",
    until="",
    source="",
):
    """Stream one answer into the chat: (history, answers, sources panel, question box).

    `since`/`until` (YYYY, YYYY-MM or YYYY-MM-DD, empty: open) and `source` are the chat's
    filters (see `set_period`); a period set there overrides one named in the question.
    """
    history, answers = list(history or []), dict(answers or {})
    if not message or not message.strip():
        yield history, answers, gr.update(), message
        return
    previous = [a["question"] for a in answers.values()]
    history.append({"role": "user", "content": plain(message)})
    try:
        filters = Filters.explicit(since, until, source)
    except ValueError as exc:  # a mistyped date: said in the chat, the question kept
        history.append({"role": "assistant", "content": f"⚠ *{plain(str(exc))}*"})
        yield history, answers, gr.update(), message
        return
    try:
        chosen = service.with_llm(model)
    except RagError as exc:  # a model the server does not offer: said in the chat
        history.append({"role": "assistant", "content": f"⚠ *{plain(str(exc))}*"})
        yield history, answers, gr.update(), message
        return
    history.append({"role": "assistant", "content": "…"})
    turn = len(history) - 1
    events = chosen.stream(
        message,
        language=language,
        top_k=int(top_k),
        temperature=float(temperature),
        previous=previous,
        filters=filters,
    )
    for event in events:
        if isinstance(event, Draft):
            history[-1] = {"role": "assistant", "content": plain(event.text) + " …"}
            yield history, answers, gr.update(), ""
        else:
            history[-1] = {"role": "assistant", "content": chat_message(event, turn)}
            answers[turn] = event.to_dict()
            shown = {int(k): Answer.from_dict(v) for k, v in answers.items()}
            yield history, answers, sources_panel(shown, service.documents(), turn), ""


def ask(
    service: Service,
    question: str,
    model: str | None = None,
    since: str | None = None,
    until: str | None = None,
    source: str | None = None,
) -> dict:
    """The `/ask` API: the answer record; `model` names one of the backends the server offers
    (`Service.llm_choices`; empty or None: the default), `since`/`until`/`source` filter the
    articles as in the chat (empty or None: no filter)."""
    try:
        filters = Filters.explicit(since, until, source)
        chosen = service.with_llm(model)  # only a model the server offers
    except (ValueError, RagError) as exc:
        raise gr.Error(str(exc)) from None
    return chosen.ask(question, filters=filters).to_dict()


def set_period(since: str | None = None, until: str | None = None) -> tuple[str, str]:
    """New values for the chat's since/until filter boxes (e.g. a timeline's month click:
    `set_period("2025-03", "2025-03")`; no arguments clears the period)."""
    return since or "", until or ""


def on_month(month: str | None) -> tuple:
    """A click on a month of the Articles timeline: the chat's period becomes that month."""
    if not month or not re.fullmatch(r"\d{4}-\d{2}", month.strip()):
        return gr.update(), gr.update()
    return set_period(*bounds(month.strip()))  # its first and last day


def upload(service: Service, files) -> tuple[str, str]:
    """Index the uploaded files: (one line per file, added or refused, the corpus list)."""
    paths = [f if isinstance(f, str) else f.name for f in files or []]
    if not paths:
        return I18N("upload_nothing"), corpus_summary(service)
    try:
        added, refused = service.add_articles(paths)
    except RagError as exc:  # e.g. a full disk: the index in use is unchanged and says so
        return f"❌ {plain(str(exc))}", corpus_summary(service)
    # The files kept, in order, beside their doc_ids: one whose name was taken shows both
    # ("✅ one-2 (one.txt)").
    names = [Path(p).name for p in paths]
    for skip in refused:
        if skip.path in names:
            names.remove(skip.path)
    lines = [
        f"✅ {plain(doc_id)}" + ("" if Path(name).stem == doc_id else f" ({plain(name)})")
        for doc_id, name in zip(added, names)
    ]
    lines += [f"❌ {plain(skip.reason)}" for skip in refused]
    return "\n\n".join(lines), corpus_summary(service)


def corpus_summary(service: Service) -> str:
    """The Articles tab: articles per month (clickable) and one row per article, newest first.

    Its labels follow the articles' majority language.
    """
    documents = service.documents()
    languages = Counter(doc.language for doc in documents.values())
    language = languages.most_common(1)[0][0] if languages else "en"
    return timeline_html(documents, service.chunk_counts(), language)


class BriefingFiles:
    """Where briefing files are written, one folder per request.

    Gradio serves copies from its own cache (cleaned by the app's `delete_cache`), so old
    folders are removed as new ones come, and the whole directory when the app goes away.
    """

    def __init__(self) -> None:
        self._root = tempfile.TemporaryDirectory(prefix="rag-briefings-")

    def folder(self) -> Path:
        root = Path(self._root.name)
        for old in root.iterdir():
            if time.time() - old.stat().st_mtime > STALE_BRIEFING_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=root))


def briefing_outputs(files: BriefingFiles, note) -> tuple:
    """(preview, Markdown download, Word download) for the answer records in `note`."""
    if not note:
        hidden = gr.update(value=None, interactive=False)
        return I18N("briefing_empty"), hidden, hidden
    answers = [Answer.from_dict(r) for r in note]
    language = answers[0].language
    folder = files.folder()
    name = f"briefing-{date.today().isoformat()}"
    markdown = write_briefing(answers, folder / f"{name}.md", language=language)
    word = write_briefing(answers, folder / f"{name}.docx", language=language)
    return (
        render_markdown(answers, language=language, escape=True),
        gr.update(value=str(markdown), interactive=True),
        gr.update(value=str(word), interactive=True),
    )


def add_to_briefing(files: BriefingFiles, note, answers, turn) -> tuple:
    """The note with the answer of chat message `turn` added (once), and its outputs."""
    record = (answers or {}).get(turn)
    note = list(note or [])
    if record and record not in note:
        note.append(record)
    return (note, *briefing_outputs(files, note))


def on_feedback(files: BriefingFiles, note, answers, liked, turn) -> tuple:
    """A chat feedback click: "add to briefing" adds that answer; others change nothing."""
    if liked != ADD_TO_BRIEFING:
        return (note, *briefing_outputs(files, note))
    return add_to_briefing(files, note, answers, turn)


def add_last(files: BriefingFiles, note, answers) -> tuple:
    """The "add the last answer" button."""
    turns = sorted(answers or {})
    return add_to_briefing(files, note, answers, turns[-1] if turns else None)


def clear_briefing(files: BriefingFiles) -> tuple:
    return ([], *briefing_outputs(files, []))
