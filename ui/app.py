"""The Gradio chat: built around a pipeline object passed in, so any pipeline can be tested."""

from __future__ import annotations

import html

import gradio as gr

from rag.answer import Answer, AnswerPipeline, Draft
from rag.llms import get_llm

CONTEXT_CHARS = 240  # article text shown around a cited passage

CSS = """
.source-card {border: 1px solid #ddd; border-radius: 8px; padding: 10px 12px; margin-bottom: 10px;}
.source-card h4 {margin: 0 0 4px 0; font-size: 0.95em;}
.source-card .meta {color: #666; font-size: 0.85em; margin-bottom: 6px;}
.source-card mark {background: #fff1a8; padding: 0 2px;}
.notice {color: #8a5a00; font-size: 0.9em;}
"""


def sources_html(answer: Answer | None, pipeline: AnswerPipeline) -> str:
    """Each cited passage in its article's context, the cited span highlighted."""
    if answer is None:
        return "<p>Les sources de la réponse s'affichent ici. / Sources appear here.</p>"
    if answer.refused:
        return f"<p class='notice'>{html.escape(answer.text)}</p>"
    documents = pipeline.retriever.index.documents
    cards = []
    if answer.notice:
        cards.append(f"<p class='notice'>{html.escape(answer.notice)}</p>")
    for source in answer.sources:
        text = documents[source.doc_id].text
        before = text[max(0, source.start - CONTEXT_CHARS) : source.start]
        after = text[source.end : source.end + CONTEXT_CHARS]
        meta = " · ".join(x for x in (source.date, source.url, source.doc_id) if x)
        cards.append(
            f"<div class='source-card' id='source-{source.n}'>"
            f"<h4>[{source.n}] {html.escape(source.title)}</h4>"
            f"<div class='meta'>{html.escape(meta)}</div>"
            f"<div>…{html.escape(before)}<mark>{html.escape(source.text)}</mark>"
            f"{html.escape(after)}…</div></div>"
        )
    return "\n".join(cards)


def build_app(pipeline: AnswerPipeline, llm_names: list[str]) -> gr.Blocks:
    """The chat, the sources panel, the model and language settings, and an /ask API."""

    def choose_llm(name: str):
        return (
            pipeline.llm
            if not name or name == pipeline.llm.name
            else get_llm(name, pipeline.settings)
        )

    def respond(message, history, model, language, top_k):
        history = list(history or [])
        if not message or not message.strip():
            yield history, gr.update(), ""
            return
        history.append({"role": "user", "content": message})
        history.append({"role": "assistant", "content": "…"})
        settings = pipeline.settings.replace(language=language, top_k=int(top_k))
        for event in pipeline.stream(message, llm=choose_llm(model), settings=settings):
            if isinstance(event, Draft):
                history[-1] = {"role": "assistant", "content": event.text + " …"}
                yield history, gr.update(), ""
            else:
                content = event.text if not event.notice else f"{event.text}\n\n*{event.notice}*"
                history[-1] = {"role": "assistant", "content": content}
                yield history, sources_html(event, pipeline), ""

    def ask(question: str, model: str = "") -> dict:
        return pipeline.ask(question, llm=choose_llm(model)).to_dict()

    with gr.Blocks(title="Articles — réponses citées") as app:
        gr.Markdown("## Questions sur les articles · Ask the articles")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=480)
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Posez une question… / Ask a question…",
                        show_label=False,
                        scale=5,
                        elem_id="question",
                    )
                    send = gr.Button("Envoyer / Send", variant="primary", scale=1)
            with gr.Column(scale=2):
                sources = gr.HTML(sources_html(None, pipeline), elem_id="sources")
        with gr.Accordion("Réglages / Settings", open=False):
            model = gr.Dropdown(llm_names, value=pipeline.llm.name, label="Modèle / Model")
            language = gr.Radio(
                ["auto", "fr", "en"],
                value=pipeline.settings.language,
                label="Langue de réponse / Answer language",
            )
            top_k = gr.Slider(
                1,
                12,
                value=pipeline.settings.top_k,
                step=1,
                label="Passages consultés / Passages searched",
            )
        inputs = [box, chat, model, language, top_k]
        box.submit(respond, inputs, [chat, sources, box])
        send.click(respond, inputs, [chat, sources, box])
        api_question = gr.Textbox(visible=False)
        api_model = gr.Textbox(visible=False)
        api_out = gr.JSON(visible=False)
        gr.Button(visible=False).click(ask, [api_question, api_model], api_out, api_name="ask")
    app.queue(default_concurrency_limit=1)
    return app
