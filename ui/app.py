"""The browser chat: built around a pipeline passed in, so any pipeline can be served and tested.

Layout: the conversation on the left; on the right, tabs for the cited sources, the briefing
note and the article uploads; settings (model, temperature, answer language, top-k) below.
Labels follow the browser's language (French or English) through Gradio's own I18n.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import gradio as gr

from rag.answer import Answer, AnswerPipeline, Draft
from rag.briefing import render_markdown, write_briefing
from rag.config import DEFAULT_MAX_UPLOAD_BYTES
from rag.engine import add_articles
from rag.llms import get_llm
from rag.retrieval import Retriever
from rag.store import load_index
from ui.labels import ADD_TO_BRIEFING, I18N
from ui.render import chat_message, plain, sources_panel

HERE = Path(__file__).resolve().parent
STALE_BRIEFING_SECONDS = 3600  # written briefing files older than this are deleted
SEED_EXAMPLES = [  # shown when the app serves the seed articles
    "Avec quel pays africain la Chine s'est-elle associée ?",
    "Who is the Chinese foreign minister who launched the plan?",
    "Quelles entreprises mènent les avancées chinoises en intelligence artificielle ?",
]


def build_app(
    pipeline: AnswerPipeline, llm_names: list[str], examples: list[str] | None = None
) -> gr.Blocks:
    """The chat, its sources, the briefing note, uploads, settings, and the `/ask` API."""
    t = I18N
    # Briefing files are written here, one folder per request; Gradio serves copies from its
    # own cache (cleaned by `delete_cache` below), so old folders are removed as new ones come,
    # and the whole directory when the app goes away.
    briefings = tempfile.TemporaryDirectory(prefix="rag-briefings-")

    def briefing_folder() -> Path:
        root = Path(briefings.name)
        for old in root.iterdir():
            if time.time() - old.stat().st_mtime > STALE_BRIEFING_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=root))

    def choose_llm(name: str):
        if not name or name == pipeline.llm.name:
            return pipeline.llm
        return get_llm(name, pipeline.settings)

    def documents():
        return pipeline.retriever.index.documents

    def respond(message, history, answers, model, language, top_k, temperature):
        history, answers = list(history or []), dict(answers or {})
        if not message or not message.strip():
            yield history, answers, gr.update(), message
            return
        previous = [a["question"] for a in answers.values()]
        history.append({"role": "user", "content": plain(message)})
        history.append({"role": "assistant", "content": "…"})
        turn = len(history) - 1
        settings = pipeline.settings.replace(
            language=language, top_k=int(top_k), temperature=float(temperature)
        )
        events = pipeline.stream(
            message, llm=choose_llm(model), settings=settings, previous=previous
        )
        for event in events:
            if isinstance(event, Draft):
                history[-1] = {"role": "assistant", "content": plain(event.text) + " …"}
                yield history, answers, gr.update(), ""
            else:
                history[-1] = {"role": "assistant", "content": chat_message(event, turn)}
                answers[turn] = event.to_dict()
                shown = {int(k): Answer.from_dict(v) for k, v in answers.items()}
                yield history, answers, sources_panel(shown, documents(), turn), ""

    def add_to_briefing(note, answers, turn):
        record = (answers or {}).get(turn)
        note = list(note or [])
        if record and record not in note:
            note.append(record)
        return (note, *briefing_outputs(note))

    def on_feedback(note, answers, data: gr.LikeData):
        if data.liked != ADD_TO_BRIEFING:
            return (note, *briefing_outputs(note))
        return add_to_briefing(note, answers, data.index)

    def add_last(note, answers):
        turns = sorted(answers or {})
        return add_to_briefing(note, answers, turns[-1] if turns else None)

    def clear_briefing():
        return ([], *briefing_outputs([]))

    def briefing_outputs(note):
        if not note:
            hidden = gr.update(value=None, interactive=False)
            return t("briefing_empty"), hidden, hidden
        answers = [Answer.from_dict(r) for r in note]
        language = answers[0].language
        folder = briefing_folder()
        name = f"briefing-{date.today().isoformat()}"
        markdown = write_briefing(answers, folder / f"{name}.md", language=language)
        word = write_briefing(answers, folder / f"{name}.docx", language=language)
        return (
            render_markdown(answers, language=language, escape=True),
            gr.update(value=str(markdown), interactive=True),
            gr.update(value=str(word), interactive=True),
        )

    def upload(files):
        paths = [f if isinstance(f, str) else f.name for f in files or []]
        if not paths:
            return t("upload_nothing"), corpus_summary()
        added, refused = add_articles(pipeline.settings, paths, pipeline.retriever.embedder)
        if added:
            pipeline.retriever = Retriever(
                load_index(pipeline.settings.index_dir), pipeline.retriever.embedder
            )
        lines = [f"✅ {plain(doc_id)}" for doc_id in added]
        lines += [f"❌ {plain(skip.reason)}" for skip in refused]
        return "\n\n".join(lines), corpus_summary()

    def corpus_summary():
        rows = sorted(documents().values(), key=lambda d: (d.date or "", d.title), reverse=True)
        return "\n".join(f"- **{plain(d.title)}** ({plain(d.date or d.doc_id)})" for d in rows)

    def ask(question: str, model: str = "") -> dict:
        return pipeline.ask(question, llm=choose_llm(model)).to_dict()

    with gr.Blocks(
        title="Articles — réponses citées / cited answers",
        delete_cache=(STALE_BRIEFING_SECONDS, STALE_BRIEFING_SECONDS),
    ) as app:
        answers = gr.State({})  # chat message index -> answer record
        note = gr.State([])  # answer records in the briefing, in order
        gr.Markdown(t("header"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label=t("conversation"),
                    height=520,
                    feedback_options=[ADD_TO_BRIEFING],
                    buttons=["copy"],
                    elem_id="chat",
                    placeholder=t("placeholder_chat"),
                    latex_delimiters=[],  # an article's "$$" is text, not a formula
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder=t("ask"), show_label=False, scale=5, elem_id="question"
                    )
                    send = gr.Button(t("send"), variant="primary", scale=1, elem_id="send")
                if examples:
                    gr.Examples(examples, inputs=box, label=t("examples"))
            with gr.Column(scale=2):
                with gr.Tabs():
                    with gr.Tab(t("sources"), elem_id="tab-sources"):
                        sources = gr.HTML(sources_panel({}, {}, None), elem_id="sources-panel")
                    with gr.Tab(t("briefing"), elem_id="tab-briefing"):
                        gr.Markdown(t("briefing_help"))
                        with gr.Row():
                            add = gr.Button(t("add_last"), elem_id="add-last")
                            clear = gr.Button(t("clear"), variant="stop", elem_id="clear-note")
                        preview = gr.Markdown(t("briefing_empty"), elem_id="briefing-preview")
                        with gr.Row():
                            get_md = gr.DownloadButton(
                                t("download_md"), interactive=False, elem_id="download-md"
                            )
                            get_docx = gr.DownloadButton(
                                t("download_docx"), interactive=False, elem_id="download-docx"
                            )
                    with gr.Tab(t("articles"), elem_id="tab-articles"):
                        files = gr.File(
                            label=t("upload"),
                            file_count="multiple",
                            file_types=[".txt", ".md", ".html"],
                            elem_id="upload",
                        )
                        index_files = gr.Button(t("index_files"), elem_id="index-files")
                        status = gr.Markdown(elem_id="upload-status")
                        corpus = gr.Markdown(corpus_summary(), elem_id="corpus")
        with gr.Accordion(t("settings"), open=False, elem_id="settings"):
            with gr.Row():
                model = gr.Dropdown(
                    llm_names, value=pipeline.llm.name, label=t("model"), elem_id="model"
                )
                language = gr.Radio(
                    ["auto", "fr", "en"], value=pipeline.settings.language, label=t("language")
                )
                top_k = gr.Slider(1, 12, value=pipeline.settings.top_k, step=1, label=t("top_k"))
                temperature = gr.Slider(
                    0.0, 1.0, value=pipeline.settings.temperature, step=0.1, label=t("temperature")
                )

        chat_inputs = [box, chat, answers, model, language, top_k, temperature]
        chat_outputs = [chat, answers, sources, box]
        for trigger in (box.submit, send.click):
            trigger(respond, chat_inputs, chat_outputs, concurrency_id="llm")
        briefing = [note, preview, get_md, get_docx]
        chat.like(on_feedback, [note, answers], briefing)
        add.click(add_last, [note, answers], briefing)
        clear.click(clear_briefing, None, briefing)
        index_files.click(upload, files, [status, corpus], concurrency_id="index")

        api_question = gr.Textbox(visible=False)
        api_model = gr.Textbox(visible=False)
        api_out = gr.JSON(visible=False)
        gr.Button(visible=False).click(
            ask, [api_question, api_model], api_out, api_name="ask", concurrency_id="llm"
        )
    # One answer at a time on the CPU; other requests wait in Gradio's queue.
    app.queue(default_concurrency_limit=1)
    return app


def launch(
    app: gr.Blocks,
    host: str,
    port: int,
    auth=None,
    block: bool = True,
    max_file_size: int | None = DEFAULT_MAX_UPLOAD_BYTES,
):
    """Start the server with the app's styles, citation script and translations.

    `max_file_size` (bytes) is enforced by Gradio on every upload, before the file is stored.
    """
    script = (HERE / "citations.js").read_text(encoding="utf-8")
    return app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        prevent_thread_lock=not block,
        css=(HERE / "style.css").read_text(encoding="utf-8"),
        head=f"<script>{script}</script>",
        i18n=I18N,
        quiet=not block,
        show_error=True,
        max_file_size=max_file_size,
    )
