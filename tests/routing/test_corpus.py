"""The shipped corpus is fit to measure on: no skeleton on both sides of the split, every
example carries what the evaluation groups by, the categories are balanced."""

from collections import Counter

from routing.model import CATEGORIES, HELDOUT_DIR, TRAIN_DIR, corpus_files, read_examples

TRAINING = read_examples(corpus_files(TRAIN_DIR))
HELDOUT = read_examples(corpus_files(HELDOUT_DIR))


def test_no_skeleton_is_on_both_sides_of_the_split() -> None:
    assert not {e.skeleton for e in TRAINING} & {e.skeleton for e in HELDOUT}


def test_no_text_is_on_both_sides_of_the_split() -> None:
    assert not {e.text for e in TRAINING} & {e.text for e in HELDOUT}


def test_every_example_names_its_skeleton_and_channel() -> None:
    for example in TRAINING + HELDOUT:
        assert example.skeleton and example.channel != "unknown", example


def test_categories_are_balanced_on_both_sides() -> None:
    for examples in (TRAINING, HELDOUT):
        counts = Counter(e.label for e in examples)
        assert set(counts) == set(CATEGORIES)
        assert max(counts.values()) <= 1.2 * min(counts.values()), counts
