"""How well the classifier does, measured so that the corpus's own writing cannot flatter it.

    python -m routing.evaluate                 grouped cross-validation + held-out figures
    python -m routing.evaluate --compare       the candidate models under grouped CV
    python -m routing.evaluate FILE.jsonl…     the installed model on other labelled files

Messages written from one skeleton (template family, writer's situation) are near-copies, so
cross-validation folds are grouped by skeleton and the held-out part shares no skeleton with
training. Each report gives accuracy, per-class precision, recall and F1, macro-F1, the
confusion matrix, figures per language, per channel and on misleading cases, and the triage
trade-off: for each `min_confidence`, the share of messages sent to triage and the share of
the model's mistakes among them.
"""

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from routing.classify import classify, classify_many
from routing.model import (
    CATEGORIES,
    DEFAULT_MIN_CONFIDENCE,
    HELDOUT_DIR,
    RECIPE,
    TRAIN_DIR,
    Example,
    Model,
    corpus_files,
    prepared_texts,
    read_examples,
)
from routing.training import RECIPES, Recipe, model_of, train

TRIAGE_THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)
CV_FOLDS = 5


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Outcome:
    """One example as the classifier saw it."""

    example: Example
    predicted: str
    confidence: float = 1.0

    @property
    def correct(self) -> bool:
        return self.predicted == self.example.label


@dataclass(frozen=True)
class GroupScore:
    """Accuracy and macro-F1 of the examples of one language, channel or kind."""

    name: str
    correct: int
    total: int
    macro_f1: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class TriageRow:
    threshold: float
    triaged: float       # share of all messages below the threshold
    caught: float        # share of the mistakes below the threshold
    routed_accuracy: float  # accuracy of the messages routed without a person


@dataclass(frozen=True)
class Report:
    """`confusion[i][j]` counts examples labelled `labels[i]` and predicted `labels[j]`."""

    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    languages: tuple[GroupScore, ...]
    channels: tuple[GroupScore, ...] = ()
    kinds: tuple[GroupScore, ...] = ()
    triage: tuple[TriageRow, ...] = ()

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
        return _class_scores(self.labels, self.confusion)

    @property
    def macro_f1(self) -> float:
        return sum(scores.f1 for scores in self.classes) / len(self.labels)

    @property
    def worst_language(self) -> GroupScore | None:
        return min(self.languages, key=lambda group: group.macro_f1, default=None)

    def triage_at(self, threshold: float) -> TriageRow | None:
        return next((row for row in self.triage if row.threshold == threshold), None)

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
        for title, groups in (("language", self.languages), ("channel", self.channels),
                              ("kind of case", self.kinds)):
            if groups:
                lines += ["", f"{'per ' + title:<{width}}{'accuracy':>9}{'macro-F1':>10}"]
                lines += [f"{g.name:<{width}}{g.accuracy:>9.3f}{g.macro_f1:>10.3f}"
                          f"  ({g.correct}/{g.total})" for g in groups]
        if self.triage:
            lines += ["", "triage trade-off (min_confidence → share of messages sent to triage,"
                      " share of mistakes caught, accuracy of the rest)"]
            lines.append("min_confidence  to triage  mistakes caught  accuracy routed")
            lines += [
                f"{row.threshold:>14.2f}{row.triaged:>11.1%}{row.caught:>17.1%}"
                f"{row.routed_accuracy:>17.3f}"
                for row in self.triage
            ]
        return "\n".join(lines)


def evaluate(
    examples: Iterable[Example],
    predict: Callable[[str], str],
    labels: tuple[str, ...] = CATEGORIES,
) -> Report:
    """Score `predict` (text → category) against the examples' labels."""
    return report([Outcome(example, predict(example.text)) for example in examples], labels,
                  thresholds=())


def report(
    outcomes: Sequence[Outcome],
    labels: tuple[str, ...] = CATEGORIES,
    thresholds: Sequence[float] = TRIAGE_THRESHOLDS,
) -> Report:
    """The figures of outcomes: overall, per language, per channel (when known), on
    misleading cases (when marked), and the triage trade-off at each threshold."""
    for outcome in outcomes:
        if outcome.predicted not in labels:
            raise ValueError(f"prediction {outcome.predicted!r} is not one of {labels}")
    channels = _groups(outcomes, labels, lambda o: o.example.channel)
    kinds = _groups(outcomes, labels,
                    lambda o: "misleading" if o.example.misleading else "plain")
    return Report(
        labels,
        _confusion(outcomes, labels),
        _groups(outcomes, labels, lambda o: o.example.lang),
        () if {g.name for g in channels} <= {"unknown"} else channels,
        kinds if any(o.example.misleading for o in outcomes) else (),
        tuple(triage_row(outcomes, threshold) for threshold in thresholds),
    )


def triage_row(outcomes: Sequence[Outcome], threshold: float) -> TriageRow:
    triaged = [o for o in outcomes if o.confidence < threshold]
    routed = [o for o in outcomes if o.confidence >= threshold]
    mistakes = sum(not o.correct for o in outcomes)
    caught = sum(not o.correct for o in triaged)
    return TriageRow(
        threshold,
        len(triaged) / len(outcomes) if outcomes else 0.0,
        caught / mistakes if mistakes else 1.0,
        sum(o.correct for o in routed) / len(routed) if routed else 1.0,
    )


def production_outcomes(examples: Sequence[Example]) -> list[Outcome]:
    """The installed model through the production path (`classify_many`, no rules or hints)."""
    results = classify_many([example.text for example in examples])
    return [Outcome(example, result.category, result.confidence)
            for example, result in zip(examples, results, strict=True)]


def model_outcomes(model: Model, examples: Sequence[Example]) -> list[Outcome]:
    """A model's own prediction of each example (what `classify` does without rules)."""
    texts, _ = prepared_texts(examples)
    outcomes = []
    for example, probabilities in zip(examples, model.probabilities_many(texts), strict=True):
        category = max(probabilities, key=probabilities.__getitem__)
        outcomes.append(Outcome(example, category, probabilities[category]))
    return outcomes


def cross_validate(examples: Sequence[Example], recipe: Recipe,
                   folds: int = CV_FOLDS) -> list[Outcome]:
    """Out-of-fold outcomes of every example, folds grouped by skeleton: each example is
    predicted by a model that saw no message of its family."""
    families = [example.family for example in examples]
    labels = [example.label for example in examples]
    outcomes: list[Outcome | None] = [None] * len(examples)
    for fitted, scored in GroupKFold(folds).split(examples, labels, families):
        model = model_of(train([examples[i] for i in fitted], recipe), "")
        for index, outcome in zip(scored, model_outcomes(model, [examples[i] for i in scored]),
                                  strict=True):
            outcomes[index] = outcome
    return outcomes  # type: ignore[return-value]


def compare(examples: Sequence[Example], recipes: Iterable[Recipe],
            min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> str:
    """Grouped cross-validation of each recipe: one line each, chosen on macro-F1 and the
    worst language."""
    lines = [f"grouped {CV_FOLDS}-fold cross-validation by skeleton on {len(examples)} training"
             f" examples, {len({e.family for e in examples})} skeletons",
             "",
             f"{'recipe':<22}{'macro-F1':>9}{'accuracy':>9}  {'worst language':<20}"
             f"{'misleading':>11}{'conf-loss':>10}  triage@{min_confidence:.2f} (sent/caught)"
             f"{'seconds':>9}"]
    for recipe in recipes:
        started = time.perf_counter()
        outcomes = cross_validate(examples, recipe)
        elapsed = time.perf_counter() - started
        result = report(outcomes, thresholds=(min_confidence,))
        worst = result.worst_language
        misleading = next((g for g in result.kinds if g.name == "misleading"), None)
        triage = result.triage[0]
        lines.append(
            f"{recipe.name:<22}{result.macro_f1:>9.3f}{result.accuracy:>9.3f}  "
            f"{(f'{worst.name} {worst.macro_f1:.3f}' if worst else '-'):<20}"
            f"{(f'{misleading.accuracy:.3f}' if misleading else '-'):>11}"
            f"{_confidence_loss(outcomes):>9.3f}  "
            f"{triage.triaged:>6.1%} / {triage.caught:>6.1%}{'':>8}{elapsed:>9.0f}"
        )
    lines += ["", "recipes:"] + [f"  {r.name}: {r.description}" for r in RECIPES.values()]
    return "\n".join(lines)


def predict_category(text: str) -> str:
    """The production path (model, no rules or hints) as a plain text → category."""
    return classify(text).category


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="labelled JSONL files")
    parser.add_argument("--compare", action="store_true",
                        help="compare the candidate models by grouped cross-validation")
    parser.add_argument("--no-cv", action="store_true",
                        help="held-out figures only, without the cross-validation")
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    arguments = parser.parse_args(argv)
    training = read_examples(corpus_files(TRAIN_DIR))
    if arguments.compare:
        print(compare(training, RECIPES.values(), arguments.min_confidence))
        return 0
    if arguments.files:
        print(report(production_outcomes(read_examples(arguments.files))).format())
        return 0
    if not arguments.no_cv:
        print(f"== grouped {CV_FOLDS}-fold cross-validation by skeleton, training corpus, "
              f"recipe {RECIPE} ==")
        print(report(cross_validate(training, RECIPES[RECIPE])).format())
        print()
    heldout = read_examples(corpus_files(HELDOUT_DIR))
    print(f"== held-out ({HELDOUT_DIR}, no skeleton shared with training), installed model ==")
    result = report(production_outcomes(heldout))
    print(result.format())
    at_default = result.triage_at(arguments.min_confidence) or triage_row(
        production_outcomes(heldout), arguments.min_confidence)
    print(f"\nat min_confidence {arguments.min_confidence:.2f}: {at_default.triaged:.1%} of "
          f"messages to triage, {at_default.caught:.1%} of mistakes caught")
    return 0


def _confusion(outcomes: Iterable[Outcome], labels: tuple[str, ...]
               ) -> tuple[tuple[int, ...], ...]:
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for outcome in outcomes:
        confusion[index[outcome.example.label]][index[outcome.predicted]] += 1
    return tuple(map(tuple, confusion))


def _class_scores(labels: tuple[str, ...], confusion: tuple[tuple[int, ...], ...]
                  ) -> tuple[ClassScores, ...]:
    scores = []
    for i, label in enumerate(labels):
        hits = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        actual = sum(confusion[i])
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        both = precision + recall
        f1 = 2 * precision * recall / both if both else 0.0
        scores.append(ClassScores(label, precision, recall, f1, actual))
    return tuple(scores)


def _groups(outcomes: Sequence[Outcome], labels: tuple[str, ...],
            key: Callable[[Outcome], str]) -> tuple[GroupScore, ...]:
    members: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        members[key(outcome)].append(outcome)
    groups = []
    for name in sorted(members):
        scores = _class_scores(labels, _confusion(members[name], labels))
        present = [s.f1 for s in scores if s.support]  # a class absent from the group
        groups.append(GroupScore(name, sum(o.correct for o in members[name]),
                                 len(members[name]), sum(present) / len(present)))
    return tuple(groups)


def _confidence_loss(outcomes: Sequence[Outcome]) -> float:
    """Log-loss of the confidence read as the chance of being right: low when confident
    answers are right and mistakes come with low confidence."""
    losses = [-np.log(max(o.confidence if o.correct else 1.0 - o.confidence, 1e-9))
              for o in outcomes]
    return float(np.mean(losses)) if losses else 0.0


if __name__ == "__main__":
    sys.exit(main())
