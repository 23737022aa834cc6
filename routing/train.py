"""Retrain the classifier on the shipped corpus plus human corrections and report the
held-out figures before and after.

    python -m routing.train [--corrections FILE.jsonl] [--tune]

The corrections file (JSONL like the corpus, exported from agents' reclassifications)
replaces the installed one: the export is always the complete set. Held-out examples
are only ever scored: a correction whose text is also in held-out is dropped, and
`--tune` cross-validates on the training data alone.
"""

import argparse
import json
import sys
from pathlib import Path

from sklearn.model_selection import GridSearchCV, StratifiedKFold

from routing.evaluate import evaluate, predict_category
from routing.model import (
    CORRECTIONS_FILE,
    HELDOUT_DIR,
    TRAIN_DIR,
    Example,
    build_pipeline,
    corpus_files,
    model_dir,
    prepared_texts,
    read_examples,
    retrain,
    shared_model,
    training_files,
    write_atomically,
)
from routing.text import fold

_TUNING_GRID = {
    "featureunion__chars__ngram_range": [(1, 4), (2, 5), (2, 6)],
    "featureunion__words__ngram_range": [(1, 1), (1, 2)],
    "logisticregression__C": [3.0, 10.0, 30.0, 100.0],
}
_FOLDS = 5


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


def tune(examples: list[Example]) -> str:
    """Macro-F1 of each grid point under stratified cross-validation, best first."""
    texts, labels = prepared_texts(examples)
    search = GridSearchCV(
        build_pipeline(),
        _TUNING_GRID,
        scoring="f1_macro",
        cv=StratifiedKFold(_FOLDS, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    search.fit(texts, labels)
    results = search.cv_results_
    ranked = sorted(
        zip(results["mean_test_score"], results["std_test_score"], results["params"], strict=True),
        key=lambda row: -row[0],
    )
    return "\n".join(f"{mean:.4f} ± {std:.4f}  {params}" for mean, std, params in ranked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.train", description=__doc__)
    parser.add_argument("--corrections", type=Path, help="JSONL of human corrections")
    parser.add_argument(
        "--tune", action="store_true", help="cross-validate the hyper-parameter grid on train"
    )
    arguments = parser.parse_args(argv)
    directory = model_dir()
    heldout = read_examples(corpus_files(HELDOUT_DIR))

    if arguments.tune:
        print(tune(read_examples(training_files(TRAIN_DIR, directory))))
        return 0
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
