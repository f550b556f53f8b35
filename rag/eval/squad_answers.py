"""End-to-end answers on a SQuAD-format dataset (PIAF): articles in, cited answers judged.

The dataset's whole articles are the corpus, one file per article (title, then paragraphs).
Articles are split once, by a hash of their title, into **train** (~60 %: the learned
decisions are fitted on its questions), **dev** (~20 %: to tune on) and **test** (~20 %:
reported, never tuned on). Dev and test each hold a few of their articles out of the corpus:
their questions must be refused. Every split searches the same corpus.

Scores (see `rag.eval.verdicts.judge`): correct = a gold answer, case- and accent-folded, appears
in the answer; correct + cited = and a cited passage comes from the gold article; wrongly
refused; held-out refused; answer language.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError

SPLITS = ("dev", "test")  # the splits answers are evaluated on; "train" is for fitting
SPLIT_SALT = "piaf-split-2"  # changing it draws other splits: never change it to tune
SHARES = {"train": 0.6, "dev": 0.2, "test": 0.2}
HELD_OUT_ARTICLES = 8  # per evaluated split: whole articles left out of the corpus
ANSWERABLE_QUESTIONS = 100  # per split, sampled from the split's indexed articles
HELD_OUT_QUESTIONS = 30  # per split, sampled from its held-out articles
SAMPLE_SEED = 0


@dataclass(frozen=True)
class Article:
    doc_id: str
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (id, question, answers)


@dataclass(frozen=True)
class Split:
    """The corpus (indexed articles) and each split's questions, in the question-set format."""

    corpus: list[Article]
    questions: dict[str, list[dict]]  # split name -> sampled items for `verdicts.judge`
    articles: dict[str, list[Article]]  # split name -> its articles, held out ones included
    held_out: dict[str, list[Article]]  # split name -> its articles left out of the corpus

    def all_questions(self, name: str) -> list[dict]:
        """Every question of a split (not a sample): answerable, then held out."""
        held_out = {a.doc_id for a in self.held_out[name]}
        items = [
            _item(a, q, a.doc_id not in held_out) for a in self.articles[name] for q in a.questions
        ]
        return sorted(items, key=lambda item: not item["answerable"])


def read_squad(path: str | Path) -> list[dict]:
    """The `data` list of a SQuAD-format file, or an error that says what the file should be."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not a readable SQuAD-format file ({exc}): give a JSON file with "
            '{"data": [{"title", "paragraphs": [{"context", "qas": [{"question"}]}]}]}.'
        ) from exc


def load_articles(path: str | Path) -> list[Article]:
    """One `Article` per SQuAD article, with a stable id (`piaf-001`, in file order)."""
    data = read_squad(path)
    articles = []
    for number, article in enumerate(data, 1):
        # Wikipedia titles come with markup: "<i>Terminator 2 : Le Jugement dernier</i>".
        title = " ".join(html.unescape(re.sub(r"<[^>]+>", "", article.get("title", ""))).split())
        paragraphs, questions = [], []
        for paragraph in article.get("paragraphs", []):
            text = paragraph.get("context", "").strip()
            if not text:
                continue
            paragraphs.append(text)
            for qa in paragraph.get("qas", []):
                answers = tuple(a["text"].strip() for a in qa.get("answers", []) if a.get("text"))
                if qa.get("question", "").strip() and answers:
                    questions.append((str(qa.get("id")), qa["question"].strip(), answers))
        if paragraphs:
            doc_id = f"piaf-{number:03d}"
            articles.append(Article(doc_id, title or doc_id, tuple(paragraphs), tuple(questions)))
    return articles


def split_articles(
    articles: list[Article],
    answerable: int = ANSWERABLE_QUESTIONS,
    held_out_questions: int = HELD_OUT_QUESTIONS,
    held_out_articles: int = HELD_OUT_ARTICLES,
) -> Split:
    """The fixed train/dev/test split: articles ordered by title hash and cut by SHARES; the
    first few of dev and of test held out of the corpus."""
    ordered = sorted(
        articles, key=lambda a: hashlib.sha256((SPLIT_SALT + a.title).encode()).digest()
    )
    cut_train = round(len(ordered) * SHARES["train"])
    cut_dev = cut_train + round(len(ordered) * SHARES["dev"])
    parts = {
        "train": ordered[:cut_train],
        "dev": ordered[cut_train:cut_dev],
        "test": ordered[cut_dev:],
    }
    corpus, questions, held = list(parts["train"]), {}, {"train": []}
    for name in SPLITS:
        held_out, indexed = parts[name][:held_out_articles], parts[name][held_out_articles:]
        held[name] = held_out
        corpus += indexed
        rng = random.Random(f"{SAMPLE_SEED}-{name}")
        asked = _sample(rng, [_item(a, q, True) for a in indexed for q in a.questions], answerable)
        refused = _sample(
            rng, [_item(a, q, False) for a in held_out for q in a.questions], held_out_questions
        )
        questions[name] = asked + refused
    corpus.sort(key=lambda a: a.doc_id)
    return Split(corpus, questions, parts, held)


def _sample(rng: random.Random, items: list[dict], count: int) -> list[dict]:
    return rng.sample(items, count) if count < len(items) else items


def _item(article: Article, question: tuple, answerable: bool) -> dict:
    qa_id, text, answers = question
    return {
        "id": f"{article.doc_id}-{qa_id}",
        "question": text,
        "language": "fr",
        "answerable": answerable,
        # A held-out question has no article in the corpus: any answer to it is wrong.
        "doc_ids": [article.doc_id] if answerable else [],
        "answer_any": list(answers) if answerable else [],
        "evidence_any": [],  # any passage of the gold article counts as a citation
        "title": article.title,
    }


def write_corpus(articles: list[Article], folder: str | Path) -> Path:
    """One text file per article: the title line, then its paragraphs; stale files removed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{a.doc_id}.txt": a for a in articles}
    for path in folder.glob("*.txt"):
        if path.name not in wanted:
            path.unlink()
    for name, article in wanted.items():
        text = "\n\n".join([article.title, *article.paragraphs]) + "\n"
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return folder


def translated(items: list[dict], path: str | Path) -> list[dict]:
    """The items that `path` translates, asked in its language: JSON lines of `id`, `question`,
    `answers` (the gold answers in that language; the original ones still count) and
    `language`."""
    path = Path(path)
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        translations = {r["id"]: (r["question"], r["language"], list(r["answers"])) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not a readable translations file ({exc}): give JSON lines of "
            '{"id", "question", "answers", "language"}.'
        ) from exc
    asked = []
    for item in items:
        if item["id"] in translations:
            question, language, answers = translations[item["id"]]
            gold = [*answers, *item["answer_any"]] if item["answerable"] else []
            asked.append(dict(item, question=question, language=language, answer_any=gold))
    return asked


def evaluate_dataset_answers(
    dataset: str | Path,
    settings,
    embedder,
    llm,
    work_dir: str | Path,
    splits: tuple[str, ...] = SPLITS,
    limit: int | None = None,
    progress: bool = True,
    translations: str | Path | None = None,
) -> dict[str, tuple[dict, list]]:
    """Index the corpus under `work_dir` (kept: re-runs embed nothing new), answer each split.

    Returns, per split, the summary and the verdicts. `limit` keeps the first N answerable and
    N * 3/10 held-out questions of each split (a quick look, not a score to report).
    `translations` asks the sampled questions it translates, and those only (see `translated`).
    """
    from tqdm import tqdm

    from rag.answering.answer import AnswerPipeline
    from rag.eval.verdicts import judge, summarise

    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ConfigError(f"Unknown split(s) {unknown}: use {', '.join(SPLITS)}.")
    split, retriever = prepare(dataset, settings, embedder, work_dir, progress)
    pipeline = AnswerPipeline(retriever, llm, settings)
    pipeline.ask("Quelle est la capitale de la France ?")  # warm: model loaded, prefix cached
    results = {}
    for name in splits:
        items = split.questions[name]
        if translations is not None:
            items = translated(items, translations)
        if limit is not None:
            answerable = [i for i in items if i["answerable"]][:limit]
            held_out = [i for i in items if not i["answerable"]][: max(1, limit * 3 // 10)]
            items = answerable + held_out
        verdicts = [
            judge(item, pipeline.ask(item["question"]))
            for item in tqdm(items, desc=f"{name} ({llm.name})", unit="q", disable=not progress)
        ]
        results[name] = (summarise(verdicts), verdicts)
    return results


def prepare(dataset, settings, embedder, work_dir, progress: bool = True):
    """The split, and a retriever over its corpus indexed under `work_dir` (incrementally)."""
    from tqdm import tqdm

    from rag.answering.retrieval import Retriever
    from rag.index.locks import ingest_lock
    from rag.index.store import build_index, load_index
    from rag.ingest.corpus import load_corpus

    split = split_articles(load_articles(dataset))
    work_dir = Path(work_dir)
    # Two evaluations on one work dir take turns, as two ingests of one index do.
    with ingest_lock(work_dir / "index", lambda message: print(message, file=sys.stderr)):
        loaded = load_corpus(write_corpus(split.corpus, work_dir / "corpus"))
        with tqdm(desc="embedding", unit="text", disable=not progress) as bar:
            build_index(
                loaded.documents,
                embedder,
                work_dir / "index",
                settings.chunk_size,
                settings.chunk_overlap,
                progress=bar.update,
            )
        index = load_index(work_dir / "index")
    return split, Retriever(index, embedder)
