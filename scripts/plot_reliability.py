"""The reliability plot of the confidence shown with answers: per confidence bin, how often the
answers given were right, from `rag eval answers --dataset … --json` outputs. It needs
matplotlib, the `plots` extra: `.venv/bin/pip install -e '.[plots]'`.

    .venv/bin/rag eval answers --dataset ../shared/eval/piaf-v1.0.json --split test --json > t.json
    .venv/bin/python scripts/plot_reliability.py t.json [more.json] --out docs/reliability.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BINS = 10


def reliability(verdicts: list[dict]) -> tuple[list[float], list[float], list[int]]:
    """Mean confidence, right rate and count of the answers given, per non-empty bin."""
    rated = [v for v in verdicts if not v["refused"] and v.get("confidence") is not None]
    confidence = np.array([v["confidence"] for v in rated])
    right = np.array([v["answerable"] and v["correct"] and v["cited"] for v in rated], dtype=float)
    which = np.minimum((confidence * BINS).astype(int), BINS - 1)
    bins = [b for b in range(BINS) if (which == b).any()]
    return (
        [float(confidence[which == b].mean()) for b in bins],
        [float(right[which == b].mean()) for b in bins],
        [int((which == b).sum()) for b in bins],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="outputs of rag eval answers --json")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reliability.png"))
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 5.0), dpi=110)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    for path in args.results:
        record = json.loads(Path(path).read_text())
        for name, result in record["results"].items():
            x, y, counts = reliability(result["verdicts"])
            summary = result["summary"]
            label = f"{name} (ECE {summary.get('calibration_error', float('nan')):.3f})"
            axes.plot(x, y, marker="o", label=label)
            for xi, yi, n in zip(x, y, counts):
                axes.annotate(str(n), (xi, yi), textcoords="offset points", xytext=(4, -10))
    sure = json.loads((ROOT / "rag" / "answering" / "confidence.json").read_text())
    threshold = sure["thresholds"]["sure"]
    axes.axvline(threshold, color="green", linestyle=":", label=f"sure from {threshold:.2f}")
    axes.set_xlabel("confidence shown (answers given; numbers: answers in the bin)")
    axes.set_ylabel("share of those answers right and cited")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_title("Confidence of factual answers, PIAF (Qwen 1.5B)")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
