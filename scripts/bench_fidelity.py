"""Ingest fidelity on clean articles: the share of characters lost or changed, sentence by sentence.

    .venv/bin/python scripts/bench_fidelity.py [FOLDER] [--json]

FOLDER defaults to tests/data/fidelity/ (31 clean French and English articles). Each article
goes through the ingest's reading and cleaning (rag/eval/fidelity.py); every sentence that lost
or changed characters is printed with the count. The target on clean text is 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.eval.fidelity import measure_folder  # noqa: E402

DEFAULT_FOLDER = ROOT / "tests" / "data" / "fidelity"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER))
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    results = measure_folder(args.folder)
    characters = sum(r.characters for r in results)
    lost = sum(r.lost for r in results)
    sentences = sum(len(r.damaged) for r in results)
    share = lost / characters if characters else 0.0
    if args.json:
        record = {
            "folder": args.folder,
            "articles": len(results),
            "characters": characters,
            "lost_or_changed": lost,
            "share": share,
            "damaged": [
                {"article": r.name, "sentence": s, "lost": n, "skipped": r.skipped}
                for r in results
                for s, n in r.damaged
            ]
            + [{"article": r.name, "skipped": r.skipped} for r in results if r.skipped],
        }
        print(json.dumps(record, ensure_ascii=False, indent=1))
        return 0
    for result in results:
        if result.skipped:
            print(f"{result.name}: skipped ({result.skipped}), {result.characters} chars lost")
        for sentence, count in result.damaged:
            print(f"{result.name}: {count} of {len(sentence)} chars lost or changed: {sentence}")
    print(
        f"{len(results)} articles, {characters:,} characters: {lost:,} lost or changed "
        f"({share:.1%}) in {sentences} sentences"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
