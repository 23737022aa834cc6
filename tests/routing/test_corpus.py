"""The shipped corpus is fit to measure on: no skeleton on both sides of the split, every
example carries what the evaluation groups by, the categories are balanced."""

import json
from collections import Counter

from routing.corpus.generate import CHANNELS, CORPUS, LANGUAGES, generate, read_skeletons
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


def test_the_shipped_generated_files_are_what_the_generator_writes() -> None:
    for (split, lang), records in generate(1_300, 14).items():
        shipped = (CORPUS / split / f"generated_{lang}.jsonl").read_text(encoding="utf-8")
        assert shipped == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def test_generated_messages_of_a_skeleton_stay_on_one_side() -> None:
    sides: dict[str, set[str]] = {}
    for (split, _), records in generate(300, 1).items():
        for record in records:
            sides.setdefault(str(record["skeleton"]), set()).add(split)
    assert all(len(split) == 1 for split in sides.values())
    assert len(sides) == len(read_skeletons())


def test_every_way_of_writing_and_channel_is_generated() -> None:
    records = [r for records in generate(600, 2).values() for r in records]
    assert {r["lang"] for r in records} == set(LANGUAGES)
    assert {r["channel"] for r in records} == set(CHANNELS)
    assert any(r["misleading"] for r in records)


def test_azerbaijani_in_cyrillic_and_russian_in_latin_letters() -> None:
    records = [r for records in generate(600, 3).values() for r in records]
    cyrillic = next(str(r["text"]) for r in records if r["lang"] == "az_cyrillic")
    latin = next(str(r["text"]) for r in records if r["lang"] == "ru_latin")
    assert any(char in "әғҹһјөү" for char in cyrillic.lower()), cyrillic
    assert not any("\u0400" <= char <= "\u04ff" for char in latin), latin
