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
from rag.config import Settings
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
        self._pipeline: AnswerPipeline | None = None
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
        """The backend that answers, loaded on first use (again if it was unloaded to make
        room for other models, see `get_llm`)."""
        if self._llm is not None:
            return self._llm
        return _with_prefixes(get_llm(self.settings.llm, self.settings))

    @property
    def llm_name(self) -> str:
        """The name of the backend that answers, without loading it."""
        return self._llm.name if self._llm is not None else self.settings.llm

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
        if self._pipeline is None:
            index = engine.open_index(self.settings, self.embedder, self.notify)
            self._pipeline = AnswerPipeline(Retriever(index, self.embedder), None, self.settings)
        return self._pipeline

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
        """This service answering with backend `name` (empty: this one), on the same index."""
        if not name or name == self.llm_name:
            return self
        self._answers()  # opened before the copy, so the copy shares it
        other = copy.copy(self)
        other._llm = _with_prefixes(get_llm(name, self.settings))
        return other

    def llm_choices(self) -> list[str]:
        """The backends to offer by name: every available one, this service's first if unlisted."""
        names = [b.name for b in backends() if not b.is_prefix and b.available()]
        if self.llm_name not in names:
            names.insert(0, self.llm_name)
        return names

    # --- passages and articles ----------------------------------------------------------------

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The `k` best passages for `question` (hybrid retrieval, no LLM), within `filters`
        and the period the question names (see `filters_for`)."""
        return self._answers().retriever.search(
            question, k, filters=self.filters_for(question, filters)
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
        if added and self._pipeline is not None:
            index = load_index(self.settings.index_dir)
            self._pipeline.retriever = Retriever(index, self.embedder)
        return added, refused


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
