"""The baseline to beat: a plain llama-index pipeline over the same seeds, embedder and LLM.

`VectorStoreIndex` with llama-index's default `SentenceSplitter` (1024 tokens, overlap 200) and
default retriever (`similarity_top_k=2`), answered by `CitationQueryEngine` with its default
prompts and citation chunks (512 tokens, overlap 20). Only the parts that must match the product
are ours: the cleaned documents (`rag.ingest.corpus`), the embedder and the LLM, wrapped as
llama-index components. The reply is turned into an `Answer` so `rag.eval.verdicts.judge`
scores both the same way.

How the reply is read (a heuristic, since the default prompt gives no structure):
- citations are `[n]` marks (also `[1, 2]`, `[Source 1]`, or a bare "Source 1") whose `n` names
  one of the numbered "Source n:" passages the engine showed the model; other numbers are ignored;
- the answer counts as a refusal when it is empty, cites no existing source, or contains a
  refusal phrase (`REFUSAL`, English or French) anywhere, even beside a cited claim; `notice`
  says which rule applied.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answering.answer import Answer, Sentence, Source
from rag.backends.llms import LLM
from rag.config import Settings
from rag.errors import ConfigError, LLMError
from rag.index.embedders import Embedder
from rag.ingest.corpus import Document, load_corpus
from rag.text import detect_language

try:
    from llama_index.core import Document as LlamaDocument
    from llama_index.core import VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.llms import (
        CompletionResponse,
        CompletionResponseGen,
        CustomLLM,
        LLMMetadata,
    )
    from llama_index.core.llms.callbacks import llm_completion_callback
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.query_engine import CitationQueryEngine
    from pydantic import PrivateAttr
except ImportError as exc:  # pragma: no cover - llama-index-core is a project dependency
    raise ConfigError("The baseline needs `pip install llama-index-core`.") from exc

LLAMA_CPP_CONTEXT = 2048  # LlamaCppLLM's n_ctx, used when the backend does not say
EMPTY_RESPONSE = "Empty Response"  # what llama-index's synthesizer returns when it has no text

# `[2]`, `[1, 2]`, `[Source 2]`, or a bare "Source 2" / "according to source 2".
_CITATION = re.compile(
    r"\[(?:sources?\s*)?(\d+(?:\s*,\s*\d+)*)\]|\bsources?\s+(\d+)\b", re.IGNORECASE
)
_SOURCE_LABEL = re.compile(r"^Source \d+:\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_ADVERB = r"(explicitly |specifically |directly |clearly |explicitement |clairement )?"
REFUSAL = re.compile(
    r"none of the (provided )?sources|no (relevant |specific )?information|"
    r"not enough information|no mention|"
    rf"(do|does|did) not {_ADVERB}(mention|contain|provide|specify|say|include|state)|"
    rf"(is|are|was|were) not {_ADVERB}(mentioned|provided|specified|stated|given|available|"
    r"included|discussed)|"
    r"cannot (answer|be answered|be determined|determine|find)|can't (answer|find)|unable to|"
    r"aucune (des |de ces )?sources?|aucune information|pas d['’]information|"
    r"ne (contien|mentionn|fourni|précis|permet|donn|dit|parl)\w*|"
    rf"n['’](est|sont|a|ont) pas (été )?{_ADVERB}(mentionn|précis|indiqu|fourni|spécifi|"
    r"disponible)\w*|"
    r"je ne (peux|sais)|impossible de",
    re.IGNORECASE,
)


class ProjectEmbedding(BaseEmbedding):
    """A project `Embedder` as a llama-index embedding: queries and passages embedded apart."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(model_name=embedder.id, **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_batch([query], is_query=True)[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed_batch([text], is_query=False)[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_batch(list(texts), is_query=False).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)


class ProjectLLM(CustomLLM):
    """A project `LLM` backend as a llama-index completion model.

    The prompt goes in as one user message, so the backend applies the model's chat template
    (as for the product); no output schema, since the baseline uses the default prompts.
    """

    context_window: int = LLAMA_CPP_CONTEXT
    num_output: int = 256
    temperature: float = 0.0
    model_name: str = "llm"
    _llm: LLM = PrivateAttr()

    def __init__(self, llm: LLM, **kwargs: Any) -> None:
        super().__init__(model_name=llm.name, **kwargs)
        self._llm = llm

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            model_name=self.model_name,
        )

    def _pieces(self, prompt: str) -> Iterator[str]:
        messages = [{"role": "user", "content": prompt}]
        return self._llm.stream(messages, None, self.temperature, self.num_output)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(self._pieces(prompt)))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        text = ""
        for piece in self._pieces(prompt):
            text += piece
            yield CompletionResponse(text=text, delta=piece)


def context_window(llm: LLM) -> int:
    """The llama.cpp context size of a local backend, else the product's default."""
    llama = getattr(llm, "_llama", None)
    return int(llama.n_ctx()) if llama is not None else LLAMA_CPP_CONTEXT


@dataclass
class BaselinePipeline:
    """Question in, `Answer` out, through llama-index's `CitationQueryEngine` (streaming)."""

    engine: CitationQueryEngine
    documents: dict[str, Document]
    model: str
    nodes: int  # chunks in the vector index
    context_window: int  # tokens the engine packs prompts into

    def ask(self, question: str) -> Answer:
        """Answer one question; first_token is when the first streamed piece arrived."""
        started = time.perf_counter()
        response = self.engine.query(question)
        first_token = None
        text = ""
        for piece in response.response_gen:
            if piece and first_token is None:
                first_token = time.perf_counter() - started
            text += piece
        total = time.perf_counter() - started
        timings = {"retrieve": None, "first_token": first_token or total, "total": total}
        return to_answer(question, text, response.source_nodes, self.documents, self.model, timings)


def ask_or_error(baseline: BaselinePipeline, question: str) -> Answer:
    """The baseline's answer; a failed LLM call counts as an empty answer, not a crash."""
    started = time.perf_counter()
    try:
        return baseline.ask(question)
    except LLMError as exc:
        seconds = time.perf_counter() - started
        timings = {"retrieve": None, "first_token": seconds, "total": seconds}
        answer = to_answer(question, "", [], baseline.documents, baseline.model, timings)
        answer.notice = f"LLM error: {exc}"
        return answer


def build_baseline(
    corpus_dir: str | Path,
    embedder: Embedder,
    llm: LLM,
    settings: Settings | None = None,
    llm_context: int | None = None,
) -> BaselinePipeline:
    """Index `corpus_dir` with llama-index defaults and wrap `llm`; temperature and max tokens
    come from `settings`, as for the product."""
    settings = settings or Settings()
    documents = {d.doc_id: d for d in load_corpus(corpus_dir).documents}
    llama_documents = [
        LlamaDocument(
            id_=d.doc_id,
            text=d.text,
            metadata={"doc_id": d.doc_id, "title": d.title},
            # The hash-like doc_id would only add noise to the embedded text.
            excluded_embed_metadata_keys=["doc_id"],
            excluded_llm_metadata_keys=["doc_id"],
        )
        for d in documents.values()
    ]
    index = VectorStoreIndex.from_documents(
        llama_documents,
        embed_model=ProjectEmbedding(embedder),
        transformations=[SentenceSplitter()],  # llama-index's defaults, spelt out
    )
    wrapped = ProjectLLM(
        llm,
        context_window=llm_context or context_window(llm),
        num_output=settings.max_tokens,
        temperature=settings.temperature,
    )
    engine = CitationQueryEngine.from_args(index, llm=wrapped, streaming=True)
    nodes = len(index.docstore.docs)
    return BaselinePipeline(engine, documents, llm.name, nodes, wrapped.context_window)


def to_answer(
    question: str,
    text: str,
    source_nodes: list,
    documents: dict[str, Document],
    model: str,
    timings: dict[str, float | None],
) -> Answer:
    """The engine's reply and its numbered source nodes as an `Answer` (see module docstring)."""
    text = text.strip()
    if text == EMPTY_RESPONSE:
        text = ""
    cited = [n for n in citation_numbers(text) if 1 <= n <= len(source_nodes)]
    sources = [_source(n, source_nodes[n - 1], documents) for n in cited]
    plain = _CITATION.sub("", text)
    refusal = REFUSAL.search(text)
    if not text:
        why = "baseline refusal: empty reply"
    elif refusal:
        why = f"baseline refusal: says {refusal.group(0)!r}"
    elif not sources:
        why = "baseline refusal: cites none of the sources shown"
    else:
        why = None
    question_language = detect_language(question)
    language = detect_language(plain, fallback=question_language) if plain else question_language
    sentences = [
        Sentence(part.strip(), [n for n in citation_numbers(part) if n in cited])
        for part in _SENTENCE_END.split(text)
        if part.strip()
    ]
    refused = why is not None
    return Answer(
        question=question,
        language=language,
        text=text,
        refused=refused,
        sentences=sentences,
        sources=sources,
        model=model,
        timings=timings,
        notice=why,
    )


def citation_numbers(text: str) -> list[int]:
    """The distinct `[n]` numbers of `text`, in order of first appearance."""
    seen: list[int] = []
    for bracketed, bare in _CITATION.findall(text):
        for number in re.split(r"\s*,\s*", bracketed or bare):
            if int(number) not in seen:
                seen.append(int(number))
    return seen


def _source(n: int, node_with_score, documents: dict[str, Document]) -> Source:
    node = node_with_score.node
    quote = _SOURCE_LABEL.sub("", node.get_content()).strip()
    doc_id = node.metadata.get("doc_id", "")
    document = documents.get(doc_id)
    start = document.text.find(quote) if document else -1
    return Source(
        n=n,
        doc_id=doc_id,
        title=node.metadata.get("title", ""),
        date=document.date if document else None,
        url=document.url if document else None,
        chunk_id=node.node_id,
        text=quote,
        start=start,
        end=start + len(quote) if start >= 0 else -1,
        score=round(node_with_score.score or 0.0, 4),
    )


def baseline_retrieval(dataset, embedder: Embedder, progress: bool = True):
    """The plain llama-index retriever on a SQuAD-format `Dataset`: `VectorStoreIndex` over the
    paragraphs with the default `SentenceSplitter`, the same embedder, top 40 nodes collapsed
    to documents and scored as `rag.eval.benchmarks.evaluate_retrieval` scores ours."""
    from tqdm import tqdm

    from rag.eval.benchmarks import CHUNKS_PER_QUESTION, RetrievalScores, document_ranking

    started = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        [
            LlamaDocument(id_=d.doc_id, text=d.text, metadata={"doc_id": d.doc_id})
            for d in dataset.documents
        ],
        embed_model=ProjectEmbedding(embedder),
        transformations=[SentenceSplitter()],
        show_progress=progress,
    )
    index_seconds = time.perf_counter() - started
    retriever = index.as_retriever(similarity_top_k=CHUNKS_PER_QUESTION)
    retriever.retrieve("warm-up")
    rankings, timings = [], []
    for question in tqdm(dataset.questions, desc="llama-index", unit="q", disable=not progress):
        started = time.perf_counter()
        nodes = retriever.retrieve(question.text)
        timings.append(time.perf_counter() - started)
        rankings.append(document_ranking([n.node.metadata["doc_id"] for n in nodes]))
    return RetrievalScores.from_rankings(
        "llama-index VectorStoreIndex", dataset.questions, rankings, timings, index_seconds
    )
