"""How well a classifier does on labelled examples: accuracy, per-class precision,
recall and F1, macro-F1, the confusion matrix and accuracy per language.

    python -m routing.evaluate routing/corpus/heldout/*.jsonl
"""

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from routing.classify import classify
from routing.model import CATEGORIES, Example, read_examples


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class LanguageScore:
    language: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Report:
    """`confusion[i][j]` counts examples labelled `labels[i]` and predicted `labels[j]`."""

    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    languages: tuple[LanguageScore, ...]

    @property
    def total(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.labels)))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def classes(self) -> tuple[ClassScores, ...]:
        scores = []
        for i, label in enumerate(self.labels):
            hits = self.confusion[i][i]
            predicted = sum(row[i] for row in self.confusion)
            actual = sum(self.confusion[i])
            precision = hits / predicted if predicted else 0.0
            recall = hits / actual if actual else 0.0
            both = precision + recall
            f1 = 2 * precision * recall / both if both else 0.0
            scores.append(ClassScores(label, precision, recall, f1, actual))
        return tuple(scores)

    @property
    def macro_f1(self) -> float:
        return sum(scores.f1 for scores in self.classes) / len(self.labels)

    def format(self) -> str:
        width = max(len(label) for label in self.labels) + 2
        lines = [
            f"examples {self.total}  accuracy {self.accuracy:.3f}  macro-F1 {self.macro_f1:.3f}",
            "",
            f"{'class':<{width}}precision  recall     f1  support",
        ]
        lines += [
            f"{s.label:<{width}}{s.precision:>9.3f}{s.recall:>8.3f}{s.f1:>7.3f}{s.support:>9}"
            for s in self.classes
        ]
        lines += ["", "confusion (rows: label, columns: predicted)"]
        lines.append(" " * width + "".join(f"{label:>{width}}" for label in self.labels))
        lines += [
            f"{label:<{width}}" + "".join(f"{count:>{width}}" for count in row)
            for label, row in zip(self.labels, self.confusion, strict=True)
        ]
        lines += ["", "accuracy per language"]
        lines += [
            f"{s.language:<{width}}{s.accuracy:>9.3f}  ({s.correct}/{s.total})"
            for s in self.languages
        ]
        return "\n".join(lines)


def evaluate(
    examples: Iterable[Example],
    predict: Callable[[str], str],
    labels: tuple[str, ...] = CATEGORIES,
) -> Report:
    """Score `predict` (text → category) against the examples' labels."""
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for example in examples:
        predicted = predict(example.text)
        if predicted not in index:
            raise ValueError(f"prediction {predicted!r} is not one of {labels}")
        confusion[index[example.label]][index[predicted]] += 1
        total[example.lang] += 1
        correct[example.lang] += predicted == example.label
    return Report(
        labels,
        tuple(map(tuple, confusion)),
        tuple(LanguageScore(lang, correct[lang], total[lang]) for lang in sorted(total)),
    )


def predict_category(text: str) -> str:
    """The production path (model, no rules or hints) as a plain text → category."""
    return classify(text).category


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.evaluate", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="labelled JSONL files")
    arguments = parser.parse_args(argv)
    print(evaluate(read_examples(arguments.files), predict_category).format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
