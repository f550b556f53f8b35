"""The browser chat: the layout, built around a service passed in (see `rag.service`).

Layout: the conversation on the left; on the right, tabs for the cited sources, the briefing
note and the article uploads; settings (model, temperature, answer language, top-k) below.
Labels follow the browser's language (French or English) through Gradio's own I18n.
What each event does lives in `ui.handlers`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from rag.config import DEFAULT_MAX_UPLOAD_BYTES
from rag.exposure import LoginThrottle
from rag.service import Service
from ui import handlers
from ui.handlers import STALE_BRIEFING_SECONDS, BriefingFiles
from ui.labels import ADD_TO_BRIEFING, I18N
from ui.render import sources_panel

HERE = Path(__file__).resolve().parent
WARMING_POLL_SECONDS = 2.0
SEED_EXAMPLES = [  # shown when the app serves the seed articles
    "Avec quel pays africain la Chine s'est-elle associée ?",
    "Who is the Chinese foreign minister who launched the plan?",
    "Quelles entreprises mènent les avancées chinoises en intelligence artificielle ?",
]


def build_app(service: Service, examples: list[str] | None = None) -> gr.Blocks:
    """The chat, its sources, the briefing note, uploads, settings, and the `/ask` API."""
    t = I18N
    files = BriefingFiles()

    # Gradio reads each handler's parameters (and `gr.LikeData` by its type), so the service
    # and the briefing files are bound here rather than with functools.partial.
    def respond(message, history, answers, model, language, top_k, temperature, *scope):
        yield from handlers.respond(
            service, message, history, answers, model, language, top_k, temperature, *scope
        )

    def on_feedback(note, answers, data: gr.LikeData):
        return handlers.on_feedback(files, note, answers, data.liked, data.index)

    def add_last(note, answers):
        return handlers.add_last(files, note, answers)

    def clear_briefing():
        return handlers.clear_briefing(files)

    def upload(uploaded):
        return handlers.upload(service, uploaded)

    def ask(
        question: str,
        model: str | None = None,
        since: str | None = None,
        until: str | None = None,
        source: str | None = None,
    ) -> dict:
        # Everything but the question defaults to None so that the API takes it alone.
        return handlers.ask(service, question, model, since, until, source)

    with gr.Blocks(
        title="Articles — réponses citées / cited answers",
        delete_cache=(STALE_BRIEFING_SECONDS, STALE_BRIEFING_SECONDS),
    ) as app:
        answers = gr.State({})  # chat message index -> answer record
        note = gr.State([])  # answer records in the briefing, in order
        gr.Markdown(t("header"))
        # While the model reads its prompts in the background (`Service.start_warming`):
        # questions are answered meanwhile, the first ones a little later.
        warming = gr.Markdown(t("warming"), visible=service.warming(), elem_id="llm-status")
        warming_timer = gr.Timer(WARMING_POLL_SECONDS, active=service.warming())
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
                # The chat's filters; another handler sets a period by returning new values
                # for `since` and `until` (see `handlers.set_period`).
                with gr.Row(elem_id="filters"):
                    since = gr.Textbox(
                        label=t("since"), placeholder=t("date_hint"), elem_id="filter-since"
                    )
                    until = gr.Textbox(
                        label=t("until"), placeholder=t("date_hint"), elem_id="filter-until"
                    )
                    source = gr.Textbox(
                        label=t("source"), placeholder=t("source_hint"), elem_id="filter-source"
                    )
                    clear_period = gr.Button(t("clear_period"), scale=0, elem_id="clear-period")
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
                        uploads = gr.File(
                            label=t("upload"),
                            file_count="multiple",
                            file_types=[".txt", ".md", ".html", ".pdf", ".docx"],
                            elem_id="upload",
                            height=120,
                        )
                        index_files = gr.Button(t("index_files"), elem_id="index-files")
                        status = gr.Markdown(elem_id="upload-status")
                        corpus = gr.HTML(handlers.corpus_summary(service), elem_id="corpus")
                        # Hidden by style.css; citations.js writes the clicked month into it.
                        month = gr.Textbox(elem_id="timeline-month", show_label=False)
        with gr.Accordion(t("settings"), open=False, elem_id="settings"):
            with gr.Row():
                model = gr.Dropdown(
                    service.llm_choices(), value=service.llm.name, label=t("model"), elem_id="model"
                )
                language = gr.Radio(
                    ["auto", "fr", "en"], value=service.settings.language, label=t("language")
                )
                top_k = gr.Slider(1, 12, value=service.settings.top_k, step=1, label=t("top_k"))
                temperature = gr.Slider(
                    0.0, 1.0, value=service.settings.temperature, step=0.1, label=t("temperature")
                )

        chat_inputs = [
            box,
            chat,
            answers,
            model,
            language,
            top_k,
            temperature,
            since,
            until,
            source,
        ]
        chat_outputs = [chat, answers, sources, box]
        for trigger in (box.submit, send.click):
            trigger(respond, chat_inputs, chat_outputs, concurrency_id="llm")
        briefing = [note, preview, get_md, get_docx]
        chat.like(on_feedback, [note, answers], briefing)
        add.click(add_last, [note, answers], briefing)
        clear.click(clear_briefing, None, briefing)
        index_files.click(upload, uploads, [status, corpus], concurrency_id="index")
        clear_period.click(handlers.set_period, None, [since, until])
        month.change(handlers.on_month, month, [since, until])

        status = [warming, warming_timer]
        for trigger in (app.load, warming_timer.tick):
            trigger(
                lambda: warming_status(service),
                None,
                status,
                show_progress="hidden",
                api_visibility="private",
                concurrency_id="status",
            )

        api_question = gr.Textbox(visible=False)
        api_model = gr.Textbox(visible=False)
        api_since = gr.Textbox(visible=False)
        api_until = gr.Textbox(visible=False)
        api_source = gr.Textbox(visible=False)
        api_out = gr.JSON(visible=False)
        gr.Button(visible=False).click(
            ask,
            [api_question, api_model, api_since, api_until, api_source],
            api_out,
            api_name="ask",
            concurrency_id="llm",
        )
    # One answer at a time on the CPU; other requests wait in Gradio's queue.
    app.queue(default_concurrency_limit=1)
    return app


def warming_status(service: Service) -> tuple:
    """The "model warming" line and its timer: shown and polling while warming, then off."""
    busy = service.warming()
    return gr.update(visible=busy), gr.Timer(active=busy)


def launch(
    app: gr.Blocks,
    host: str,
    port: int,
    auth=None,
    block: bool = True,
    max_file_size: int | None = DEFAULT_MAX_UPLOAD_BYTES,
    throttle: LoginThrottle | None = None,
):
    """Start the server with the app's styles, citation script and translations.

    `max_file_size` (bytes) is enforced by Gradio on every upload, before the file is stored.
    With `auth`, wrong passwords slow their client down (`throttle`, a `LoginThrottle` by
    default).
    """
    from starlette.middleware import Middleware

    middleware = []
    if auth:
        middleware.append(Middleware(LoginThrottling, throttle=throttle or LoginThrottle()))
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
        app_kwargs={"middleware": middleware},
    )


@contextlib.contextmanager
def own_temp_dir() -> Iterator[Path]:
    """A folder of this server's own for Gradio's uploads and file cache, removed with all it
    holds when the block ends (the server stopped). Build and launch the app inside the block:
    Gradio reads `GRADIO_TEMP_DIR` when it makes its components and its server. An operator's
    own `GRADIO_TEMP_DIR` holds the folder."""
    previous = os.environ.get("GRADIO_TEMP_DIR")
    if previous:
        os.makedirs(previous, exist_ok=True)  # Gradio would make it; mkdtemp does not
    folder = Path(tempfile.mkdtemp(prefix="rag-serve-", dir=previous or None))
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)


class LoginThrottling:
    """ASGI middleware around Gradio's login form (`POST /login`): a client that must still
    wait (see `LoginThrottle`) gets 429 with `Retry-After`, and its password is not checked;
    otherwise Gradio's answer (200 or 400) counts as a right or wrong password. The client is
    the connection's address: behind a proxy, every user shares the proxy's."""

    def __init__(self, app, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope, receive, send):
        is_login = scope["type"] == "http" and scope.get("method") == "POST"
        if not is_login or scope.get("path", "").rstrip("/") != "/login":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.throttle.wait(client)
        if wait > 0:
            seconds = math.ceil(wait)
            body = json.dumps(
                {"detail": f"Too many wrong passwords: try again in {seconds} s."}
            ).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"retry-after", str(seconds).encode()),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        async def counted(message):
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    self.throttle.succeeded(client)
                elif message["status"] in (400, 401):
                    self.throttle.failed(client)
            await send(message)

        await self.app(scope, receive, counted)
