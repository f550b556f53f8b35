"""Measurements behind `rag eval`: retrieval on SQuAD-format data, answers on a question set.

Retrieval is scored at the document level: a question's gold document is the paragraph its
answer comes from, chunk hits are collapsed to their document in rank order, and R@k / MRR@10
are computed over those document rankings.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.answering.retrieval import MODES, Retriever
from rag.backends.llms import LLM
from rag.config import Settings
from rag.errors import ConfigError
from rag.eval.squad_answers import read_squad
from rag.eval.verdicts import percentile
from rag.index.embedders import Embedder
from rag.index.store import build_index, load_index
from rag.ingest.corpus import Document
from rag.text import detect_document_language

RECALL_CUTOFFS = (1, 5, 10)
MRR_CUTOFF = 10
CHUNKS_PER_QUESTION = 40  # chunk hits asked for, so that ten distinct documents remain
SAMPLE_SEED = 0  # `--limit` draws the same questions every run


@dataclass(frozen=True)
class Question:
    """A question and the document that holds its answer."""

    id: str
    text: str
    doc_id: str


@dataclass
class Dataset:
    """Paragraphs to index and the questions asked about them."""

    name: str
    documents: list[Document]
    questions: list[Question]


@dataclass
class RetrievalScores:
    """One retrieval method's quality and speed on a dataset."""

    method: str
    questions: int
    recall: dict[int, float]  # cutoff -> share of questions with the gold document in the top k
    mrr: float  # mean reciprocal rank of the gold document, 0 below rank MRR_CUTOFF
    index_seconds: float = 0.0
    query_ms_median: float = 0.0
    query_ms_p90: float = 0.0

    @classmethod
    def from_rankings(
        cls,
        method: str,
        questions: Sequence[Question],
        rankings: Sequence[Sequence[str]],
        seconds: Sequence[float],
        index_seconds: float,
    ) -> RetrievalScores:
        """Scores of one method's document rankings, with its per-question seconds."""
        recall, mrr = score_rankings(rankings, [q.doc_id for q in questions])
        return cls(
            method=method,
            questions=len(questions),
            recall=recall,
            mrr=mrr,
            index_seconds=index_seconds,
            query_ms_median=1000 * percentile(seconds, 50),
            query_ms_p90=1000 * percentile(seconds, 90),
        )

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "questions": self.questions,
            **{f"R@{k}": round(v, 4) for k, v in self.recall.items()},
            f"MRR@{MRR_CUTOFF}": round(self.mrr, 4),
            "index_seconds": round(self.index_seconds, 2),
            "query_ms_median": round(self.query_ms_median, 2),
            "query_ms_p90": round(self.query_ms_p90, 2),
        }


def load_squad(path: str | Path, limit: int | None = None) -> Dataset:
    """SQuAD-format JSON: one `Document` per paragraph (`p0001`…), one `Question` per qa.

    `limit` keeps a deterministic random sample of the questions; every paragraph is kept, so
    the search space (and the difficulty) is the same as on the full set.
    """
    path = Path(path)
    data = read_squad(path)
    documents: list[Document] = []
    questions: list[Question] = []
    for article in data:
        title = (article.get("title") or "").strip()
        for paragraph in article.get("paragraphs", []):
            text = paragraph["context"].strip()
            if not text:
                continue
            doc_id = f"p{len(documents) + 1:04d}"
            documents.append(_paragraph(doc_id, text, title or doc_id, str(path)))
            for number, qa in enumerate(paragraph.get("qas", [])):
                question = qa.get("question", "").strip()
                if question:
                    qa_id = str(qa.get("id") or f"{doc_id}-q{number}")
                    questions.append(Question(qa_id, question, doc_id))
    if limit is not None and limit < len(questions):
        questions = random.Random(SAMPLE_SEED).sample(questions, limit)
    # One detection for the whole set: langdetect on every paragraph costs seconds for nothing.
    language = detect_document_language(" ".join(d.text for d in documents[:20]))
    documents = [replace(d, language=language) for d in documents]
    return Dataset(path.stem, documents, questions)


def _paragraph(doc_id: str, text: str, title: str, path: str) -> Document:
    digest = hashlib.sha256("\x1f".join([text, title]).encode()).hexdigest()
    return Document(
        doc_id=doc_id,
        text=text,
        title=title,
        date=None,
        url=None,
        language="unknown",
        path=path,
        content_hash=digest,
    )


def document_ranking(doc_ids: Sequence[str], depth: int = MRR_CUTOFF) -> list[str]:
    """Chunk hits' documents in rank order, each once, at most `depth` of them."""
    ranking: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in ranking:
            ranking.append(doc_id)
            if len(ranking) == depth:
                break
    return ranking


def score_rankings(rankings: Sequence[Sequence[str]], gold: Sequence[str]) -> tuple[dict, float]:
    """R@1/5/10 and MRR@10 of document rankings against each question's gold document."""
    if len(rankings) != len(gold):
        raise ValueError("one ranking per gold document")
    if not gold:
        return {k: 0.0 for k in RECALL_CUTOFFS}, 0.0
    ranks = [_rank(ranking, doc_id) for ranking, doc_id in zip(rankings, gold)]
    recall = {k: sum(1 for r in ranks if r and r <= k) / len(ranks) for k in RECALL_CUTOFFS}
    mrr = sum(1 / r for r in ranks if r and r <= MRR_CUTOFF) / len(ranks)
    return recall, mrr


def _rank(ranking: Sequence[str], doc_id: str) -> int | None:
    return ranking.index(doc_id) + 1 if doc_id in ranking else None


def evaluate_retrieval(
    dataset: Dataset,
    embedder: Embedder,
    methods: Sequence[str] = ("hybrid",),
    settings: Settings | None = None,
    progress: bool = True,
) -> list[RetrievalScores]:
    """Index the dataset in a temporary folder, then run every question through each method."""
    from tqdm import tqdm

    unknown = [m for m in methods if m not in MODES]
    if unknown:
        raise ConfigError(f"Unknown retrieval method(s) {unknown}: use {', '.join(MODES)}.")
    settings = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as work:
        with tqdm(desc="embedding", unit="text", disable=not progress) as bar:
            report = build_index(
                dataset.documents,
                embedder,
                Path(work) / "index",
                settings.chunk_size,
                settings.chunk_overlap,
                progress=bar.update,
            )
        index = load_index(Path(work) / "index")
        embedder.embed_query("warm-up")  # the first call's set-up is not a question's cost
        queries = _embed_questions(dataset.questions, embedder, methods, progress)
        results = []
        for method in methods:
            retriever = Retriever(index, embedder, mode=method)
            retriever.search("warm-up", 1)  # first-call costs (BM25 arrays) are not a question's
            rankings, timings = [], []
            for question, (vector, embed_seconds) in zip(
                tqdm(dataset.questions, desc=method, unit="q", disable=not progress), queries
            ):
                started = time.perf_counter()
                hits = retriever.search(question.text, CHUNKS_PER_QUESTION, query_vector=vector)
                search_seconds = time.perf_counter() - started
                timings.append(search_seconds + (embed_seconds if method != "bm25" else 0.0))
                rankings.append(document_ranking([hit.chunk.doc_id for hit in hits]))
            results.append(
                RetrievalScores.from_rankings(
                    method, dataset.questions, rankings, timings, report.seconds
                )
            )
    return results


def _embed_questions(questions, embedder, methods, progress) -> list[tuple]:
    """Each question's vector and the seconds it took, embedded once for all dense methods.

    One call per question, as a user's question is embedded, so that the time is a real one.
    """
    from tqdm import tqdm

    if all(method == "bm25" for method in methods):
        return [(None, 0.0)] * len(questions)
    vectors = []
    for question in tqdm(questions, desc="questions", unit="q", disable=not progress):
        started = time.perf_counter()
        vector = embedder.embed_query(question.text)
        vectors.append((vector, time.perf_counter() - started))
    return vectors


def evaluate_answers(
    questions: list[dict],
    settings: Settings,
    embedder: Embedder,
    llm,
    corpus_dir: str | Path | None = None,
    progress: bool = True,
    mode: str = "hybrid",
) -> tuple[dict, list]:
    """Index the corpus in a temporary folder, answer every question, judge and summarise.

    `mode` picks the retriever (hybrid, dense or bm25) that feeds the evidence."""
    from tqdm import tqdm

    from rag.answering.answer import AnswerPipeline
    from rag.eval.verdicts import judge, summarise
    from rag.ingest.corpus import load_corpus

    with tempfile.TemporaryDirectory(prefix="rag-eval-") as work:
        loaded = load_corpus(corpus_dir or settings.corpus_dir)
        build_index(
            loaded.documents,
            embedder,
            Path(work) / "index",
            settings.chunk_size,
            settings.chunk_overlap,
        )
        retriever = Retriever(load_index(Path(work) / "index"), embedder, mode=mode)
        pipeline = AnswerPipeline(retriever, llm, settings)
        pipeline.ask("Qui a dévoilé le plan ?")  # warm: model loaded, prompt prefix cached
        verdicts = [
            judge(item, pipeline.ask(item["question"]))
            for item in tqdm(questions, desc=f"{llm.name}, {mode}", unit="q", disable=not progress)
        ]
    return summarise(verdicts), verdicts


class RecordedLLM(LLM):
    """Wraps an LLM and keeps each reply on disk, keyed by everything the reply depends on.

    For tuning what happens *after* the model (answer checks, refusal rules): a re-run with the
    same prompts replays the recorded replies at once instead of minutes of CPU. Only for
    measurements at temperature 0, where a prompt always gets the same reply; replayed answers
    have no meaningful timings.
    """

    def __init__(self, llm, path: str | Path) -> None:
        self.llm = llm
        self.name = llm.name
        self.kind = llm.kind
        self.path = Path(path)
        self.replies: dict[str, str] = {}
        self.replayed = 0
        self.last_reply: str | None = None
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self.replies[record["key"]] = record["reply"]

    def judge(self, system, asked, passages, ask):  # not recorded: a few prompt reads
        return self.llm.judge(system, asked, passages, ask)

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        key = hashlib.sha256(
            json.dumps([self.name, messages, schema, temperature, max_tokens]).encode()
        ).hexdigest()
        if key in self.replies:
            self.replayed += 1
            self.last_reply = self.replies[key]
            yield self.replies[key]
            return
        reply = ""
        for piece in self.llm.stream(messages, schema, temperature, max_tokens):
            reply += piece
            yield piece
        self.replies[key] = self.last_reply = reply
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "reply": reply}, ensure_ascii=False) + "\n")
