"""Translate PIAF questions into English with the bundled Qwen, for cross-language measures.

PIAF is French only. The learned decisions need English questions over French articles to learn
what a cross-language question looks like (lexical overlap vanishes, cosines run lower), and
dev and test need them to measure it. `--split train` translates a fixed-seed sample of the
train split (for fitting); `--split dev|test` the split's evaluated sample (100 answerable, 30
held out). Temperature 0; JSON lines (id, question). `make` never runs this: the files are
committed, and the train file's hash is recorded with the trained decisions.

    python scripts/translate_questions.py --dataset ../shared/eval/piaf-v1.0.json \
        --split train --count 400 -o rag/eval/data/piaf-train-en.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.backends.llms import get_llm  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval.squad_answers import load_articles, split_articles  # noqa: E402

SEED = 0
PROMPT = (
    "Translate the user's French question into natural English. Keep names, numbers and dates "
    "as they are. Reply with the English question only."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", choices=("train", "dev", "test"), default="train")
    parser.add_argument("--count", type=int, default=400, help="train: how many to sample")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    split = split_articles(load_articles(args.dataset))
    if args.split == "train":
        items = split.all_questions("train")
        sample = random.Random(SEED).sample(items, min(args.count, len(items)))
    else:
        sample = split.questions[args.split]
    llm = get_llm("qwen2.5-coder-1.5b", Settings())
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if output.exists():
        done = {json.loads(line)["id"] for line in output.read_text().splitlines() if line}
    with output.open("a", encoding="utf-8") as out:
        for number, item in enumerate(sample, 1):
            if item["id"] in done:
                continue
            messages = [
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": item["question"]},
            ]
            english = " ".join(llm.complete(messages, None, max_tokens=80).split())
            record = {"id": item["id"], "question": english}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{number}/{len(sample)} {item['question']} -> {english}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
