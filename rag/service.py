"""The one object the CLI and the UI talk to: answers, passages, articles and LLM backends.

It loads the parts (embedder, index, LLM) once: the CLI and the UI get them nowhere else.
After an upload it reloads the index itself.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from rag.answering.answer import Answer, AnswerPipeline, Draft
from rag.answering.periods import Filters
from rag.answering.prompts import build_messages
from rag.answering.retrieval import Hit, Retriever
from rag.backends.llms import LLM, backends, get_llm
from rag.config import Settings, offered_llms
from rag.errors import LLMError, RagError
from rag.index import engine
from rag.index.embedders import Embedder, get_embedder
from rag.index.store import load_index
from rag.ingest.corpus import Document, Skipped

log = logging.getLogger(__name__)


class Service:
    """Cited answers over one index, with one default LLM; other backends on request."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        notify: Callable[[str], None] = log.warning,
    ) -> None:
        self.settings = settings
        self.notify = notify
        self._embedder = embedder
        self._llm = _with_prefixes(llm) if isinstance(llm, LLM) else llm
        # Shared with the copies `with_llm` makes, so that one reload serves them all.
        self._current = _Current()
        self._warming: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, *, load_llm: bool = True, **parts) -> Service:
        """A service whose index is open (built or repaired first when needed, with a message)
        and, unless `load_llm` is false (a search needs none), whose LLM is loaded."""
        service = cls(settings, **parts)
        service._answers()
        if load_llm:
            service.llm  # loaded now, not during the first answer
        return service

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embedder)
        return self._embedder

    @property
    def llm(self) -> LLM:
        """The backend that answers, under the name callers see; loaded on first use (again if
        it was unloaded to make room for other models, see `get_llm`)."""
        if self._llm is not None:
            return self._llm
        return _with_prefixes(_listed(self._names()[0], self.settings.llm, self.settings))

    @property
    def llm_name(self) -> str:
        """The name of the backend that answers, as callers see it, without loading it."""
        return self._llm.name if self._llm is not None else self._names()[0]

    def start_warming(self, on_ready: Callable[[str], None] | None = None) -> threading.Thread:
        """Evaluate the answering model's prompt prefixes in the background (or read them from
        disk, see `LLM.warm`): questions asked meanwhile are answered, between two prefixes.
        `on_ready` gets one line when it is done."""
        llm = self.llm

        def warm() -> None:
            started = time.perf_counter()
            try:
                if isinstance(llm, LLM):
                    llm.warm()
            except Exception as exc:  # warming only saves time; an answer says what fails
                log.warning("warming %s stopped: %s: %s", llm.name, type(exc).__name__, exc)
                return
            if on_ready is not None:
                seconds = time.perf_counter() - started
                on_ready(f"{llm.name} is ready: its prompts were read in {seconds:.1f} s.")

        self._warming = threading.Thread(target=warm, name="warm-llm", daemon=True)
        self._warming.start()
        return self._warming

    def warming(self) -> bool:
        """Whether `start_warming`'s work is still under way."""
        return self._warming is not None and self._warming.is_alive()

    def _answers(self) -> AnswerPipeline:
        """The pipeline over the index as last loaded. A caller takes it once and keeps it: an
        upload puts a new pipeline here and never changes one in use, so an answer reads one
        index generation from start to end."""
        if self._current.pipeline is None:
            index = engine.open_index(self.settings, self.embedder, self.notify)
            self._current.pipeline = self._pipeline_over(index)
        return self._current.pipeline

    def _pipeline_over(self, index) -> AnswerPipeline:
        return AnswerPipeline(Retriever(index, self.embedder), None, self.settings)

    # --- answers ------------------------------------------------------------------------------

    def stream(
        self,
        question: str,
        previous: list[str] | None = None,
        filters: Filters | None = None,
        **overrides,
    ) -> Iterator[Draft | Answer]:
        """`Draft`s while the model writes, then the verified `Answer`.

        `previous` holds the conversation's earlier questions (for follow-ups); `filters` the
        user's period and source (`Filters.explicit(since, until, source)`; a period there
        overrides one named in the question); `overrides` change settings for this question
        only (`language`, `top_k`, `temperature`, ...).
        """
        settings = self.settings.replace(**overrides)
        return self._answers().stream(
            question, llm=self.llm, settings=settings, previous=previous, filters=filters
        )

    def ask(self, question: str, **options) -> Answer:
        """Answer one question (the last event of `stream`)."""
        for event in self.stream(question, **options):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() always ends with an Answer")

    def with_llm(self, name: str | None) -> Service:
        """This service answering with the offered backend `name` (empty: this one), on the
        same index. Any other name is refused, with the offered ones, before anything is
        loaded or reached: callers choose among the operator's backends, never a new one."""
        if not name or name == self.llm_name:
            return self
        offered = self._offered()
        if name not in offered:
            raise LLMError(
                f"This server does not offer that model. Choose one of: {', '.join(offered)}."
            )
        self._answers()  # opened before the copy, so the copy shares it
        other = copy.copy(self)
        try:
            other._llm = _with_prefixes(_listed(name, offered[name], self.settings))
        except RagError as exc:  # its path or address stays in the server's log
            log.error("%s could not be loaded: %s", name, exc)
            raise LLMError(
                f"The model {name} could not be loaded; the server's log says why."
            ) from None
        return other

    def llm_choices(self) -> list[str]:
        """The names of the backends callers may choose, this service's first."""
        return list(self._offered())

    def _offered(self) -> dict[str, str]:
        """The offered backends, by the name callers see -> the operator's spec: this service's
        own, the `llms` setting's (named there, else by model or file name, never by address
        or path), the installed bundled models and extractive (by their registry names)."""
        own, configured = self._names()
        if self._llm is not None:  # an LLM passed in answers under its own name
            own = self._llm.name
        offered = {own: self.settings.llm}
        for name, spec in configured:
            offered.setdefault(name, spec)
        for backend in backends():
            if not backend.is_prefix and backend.available():
                offered.setdefault(backend.name, backend.name)
        return offered

    def _names(self) -> tuple[str, list[tuple[str, str]]]:
        """The name callers see for `settings.llm`, and the `llms` setting as (name, spec).
        A spec without a name gets its model or file name, made unique (`qwen-2`) against
        the registry's names and the names given before it."""
        own_spec = self.settings.llm
        entries = offered_llms(self.settings.llms)
        taken = {b.name for b in backends() if not b.is_prefix}
        labels = {spec: name for name, spec in entries if name}
        own = labels.get(own_spec) or own_spec
        if own == own_spec and ":" in own_spec:
            own = _unique(public_name(own_spec), taken)
        taken.add(own)
        configured = []
        for name, spec in entries:
            if spec == own_spec:
                name = own
            elif not name:
                name = _unique(public_name(spec), taken)
            taken.add(name)
            configured.append((name, spec))
        return own, configured

    # --- passages and articles ----------------------------------------------------------------

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The `k` best passages for `question` (hybrid retrieval, no LLM), within `filters`
        and the period the question names (see `filters_for`)."""
        pipeline = self._answers()
        return pipeline.retriever.search(
            question, k, filters=pipeline.resolve_filters(question, filters)
        )

    def filters_for(self, question: str, filters: Filters | None = None) -> Filters:
        """The filters `question` is searched with: the user's, else its own period."""
        return self._answers().resolve_filters(question, filters)

    def documents(self) -> dict[str, Document]:
        """The indexed articles by doc_id."""
        return self._answers().retriever.index.documents

    def chunk_counts(self) -> dict[str, int]:
        """How many passages (chunks) each indexed article has, by doc_id."""
        return dict(Counter(chunk.doc_id for chunk in self._answers().retriever.index.chunks))

    def add_articles(self, paths: list[str | Path]) -> tuple[list[str], list[Skipped]]:
        """Add uploaded files to the index (see `engine.add_articles`), then reload it.

        Returns the doc_ids added and the files refused, each with its reason.
        """
        added, refused = engine.add_articles(self.settings, paths, self.embedder)
        if added and self._current.pipeline is not None:
            self._current.pipeline = self._pipeline_over(load_index(self.settings.index_dir))
        return added, refused


class _Current:
    """The pipeline answers start from; replaced whole (one assignment) on reload."""

    pipeline: AnswerPipeline | None = None


class _Listed(LLM):
    """A backend under the name callers see, so that no answer carries its address or path:
    `openai:http://10.0.0.5:8000/v1#qwen-32b` answers as `qwen-32b`."""

    def __init__(self, name: str, backend: LLM) -> None:
        self.name = name
        self.kind = backend.kind
        self.backend = backend

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        return self.backend.stream(messages, schema, temperature, max_tokens)

    def judge(self, system, asked, passages, ask):
        return self.backend.judge(system, asked, passages, ask)

    def use_prefixes(self, prefixes: dict[str, list[dict]]) -> None:
        self.backend.use_prefixes(prefixes)

    def warm(self) -> None:
        self.backend.warm()

    @property
    def ready(self) -> bool:
        return self.backend.ready


def _listed(name: str, spec: str, settings: Settings) -> LLM:
    backend = get_llm(spec, settings)
    return backend if backend.name == name else _Listed(name, backend)


def public_name(spec: str) -> str:
    """A name for a backend spec that shows neither address nor path: the model of
    `openai:URL#MODEL`, the file name of `gguf:/path/x.gguf` or `hf:REPO:x.gguf`."""
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        return rest.partition("#")[2].strip() or "openai"
    if kind in ("gguf", "hf"):
        return Path(rest.rsplit(":", 1)[-1]).stem or kind
    return spec if not rest else kind


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def prompt_prefixes() -> dict[str, list[dict]]:
    """The fixed start of every prompt set (system prompt and worked examples), by name: what
    `build_messages` puts before the evidence and the question."""
    return {
        f"{kind}-{language}": build_messages("", [], language, broad=kind == "broad")[:-1]
        for kind in ("answer", "broad")
        for language in ("fr", "en")
    }


def _with_prefixes(llm: LLM) -> LLM:
    llm.use_prefixes(prompt_prefixes())
    return llm
