"""Retrain the classifier on the shipped corpus plus human corrections and report the
held-out figures before and after.

    python -m routing.train [--corrections FILE.jsonl]

The corrections file (JSONL like the corpus, exported from agents' reclassifications)
replaces the installed one: the export is always the complete set. Held-out examples
are only ever scored: a correction whose text is also in held-out is dropped. Candidate
models are compared by `python -m routing.evaluate --compare`, on the training data alone.
"""

import argparse
import json
import sys
from pathlib import Path

from routing.evaluate import evaluate, predict_category
from routing.model import (
    CORRECTIONS_FILE,
    HELDOUT_DIR,
    TRAIN_DIR,
    Example,
    corpus_files,
    model_dir,
    read_examples,
    retrain,
    shared_model,
    write_atomically,
)
from routing.text import fold


def install_corrections(
    source: Path, heldout: list[Example], directory: Path
) -> tuple[int, int]:
    """Copy the corrections beside the model, minus any held-out text; returns
    (installed, dropped)."""
    heldout_texts = {fold(example.text) for example in heldout}
    corrections = read_examples([source])
    kept = [example for example in corrections if fold(example.text) not in heldout_texts]
    lines = "".join(
        json.dumps({"text": e.text, "label": e.label, "lang": e.lang}, ensure_ascii=False) + "\n"
        for e in kept
    )
    write_atomically(directory / CORRECTIONS_FILE, lambda handle: handle.write(lines.encode()))
    return len(kept), len(corrections) - len(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.train", description=__doc__)
    parser.add_argument("--corrections", type=Path, help="JSONL of human corrections")
    arguments = parser.parse_args(argv)
    directory = model_dir()
    heldout = read_examples(corpus_files(HELDOUT_DIR))

    if heldout:
        print("== held-out, current model ==")
        print(evaluate(heldout, predict_category).format())
    if arguments.corrections:
        installed, dropped = install_corrections(arguments.corrections, heldout, directory)
        print(f"\ncorrections installed: {installed}; dropped as held-out text: {dropped}")
    retrain(TRAIN_DIR, directory)
    shared_model.cache_clear()
    print(f"\nmodel saved in {directory}")
    if heldout:
        print("\n== held-out, retrained model ==")
        print(evaluate(heldout, predict_category).format())
    else:
        print(f"no held-out files in {HELDOUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
