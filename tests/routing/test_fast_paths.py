"""The classifier's fast paths give exactly what their plain definitions give, on the whole
corpus and on random text: folding, language detection, FIN and phone gates, and the
model's scores against the scikit-learn pipeline itself."""

import random
import re
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from routing import entities
from routing.entities import find_entities
from routing.language import _AZ_CYRILLIC, _CYRILLIC, _VOTES, _WORD, detect_language
from routing.model import (
    CATEGORIES,
    HELDOUT_DIR,
    TRAIN_DIR,
    Model,
    corpus_files,
    model_dir,
    prepare,
    read_examples,
    shared_model,
    training_files,
)
from routing.text import fold, romanize
from routing.training import LinearSoftmax, build_features, model_of, train

needs_corpus = pytest.mark.skipif(
    not corpus_files(TRAIN_DIR) or not corpus_files(HELDOUT_DIR),
    reason="the labelled corpus (routing/corpus/train and heldout *.jsonl) is not present",
)

# Letters of the three languages in both cases, the ones folding or lower-casing treats
# specially (dotted and dotless I, final sigma, Soviet-era Azerbaijani Cyrillic), digits of
# other scripts, digits that are no decimal (²), separators numbers are written with.
ALPHABET = ("abcçdeəfgğhxıijkqlmnoöprsştuüvyzwABCÇDEƏFGĞHXIİJKQLMNOÖPRSŞTUÜVYZW"
            "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғҹһјөүАБВЁӘҒҸҺЈӨҮ"
            "ΣσςΑ0123456789٣²½Ⅻ一 \n\t\u00a0\u2013.,:;!?-_@+/()'\"")


@cache
def corpus_texts() -> tuple[str, ...]:
    return tuple(e.text for e in read_examples(corpus_files(TRAIN_DIR)
                                               + corpus_files(HELDOUT_DIR)))


def random_texts(count: int, seed: int = 7) -> list[str]:
    """Random characters, and corpus words shuffled into new texts when there is a corpus."""
    rng = random.Random(seed)
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 200)))
             for _ in range(count)]
    words = " ".join(corpus_texts()).split() if corpus_files(TRAIN_DIR) else []
    if words:
        texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
                  for _ in range(count)]
    return texts


def all_texts() -> list[str]:
    return [*corpus_texts(), *random_texts(1_000)] if corpus_files(TRAIN_DIR) \
        else random_texts(1_000)


# Folding.

FOLD_TABLE = str.maketrans({"İ": "i", "I": "i", "ı": "i", "Ə": "e", "ə": "e", "Ğ": "g",
                            "ğ": "g", "Ö": "o", "ö": "o", "Ü": "u", "ü": "u", "Ş": "s",
                            "ş": "s", "Ç": "c", "ç": "c", "Ё": "е", "ё": "е"})


def reference_fold(text: str) -> str:
    return " ".join(text.translate(FOLD_TABLE).lower().split())


def test_fold_equals_its_translation_table_on_every_character() -> None:
    characters = "".join(map(chr, range(sys.maxunicode + 1)))
    for start in range(0, len(characters), 4_096):
        chunk = characters[start : start + 4_096]
        assert fold(chunk) == reference_fold(chunk), hex(start)


def test_fold_equals_its_translation_table_on_texts() -> None:
    for text in [*all_texts(), "ΑΣ İΣ ΣI", "İ", "ΣΣ"]:
        assert fold(text) == reference_fold(text)


# Language detection.

def reference_language(text: str, default: str) -> str:
    """Language detection counted over the whole sample, character by character."""
    sample = text[:1_000]
    cyrillic = len(_CYRILLIC.findall(sample))
    if cyrillic and cyrillic * 2 > sum(map(str.isalpha, sample)):
        return "ru" if _AZ_CYRILLIC.isdisjoint(sample) else "az"
    balance = sum(map(_VOTES.__getitem__, _WORD.findall(sample)))
    return "az" if balance > 0 else "en" if balance < 0 else default


def test_language_equals_counting_the_whole_sample() -> None:
    texts = all_texts()
    assert [detect_language(text, "xx") for text in texts] \
        == [reference_language(text, "xx") for text in texts]
    long = "Пенсия " * 150 + "salam " * 300
    assert detect_language(long, "xx") == reference_language(long, "xx")


# Entities.

def reference_fins(text: str) -> list[str]:
    """`_FIN` tried at every position of the text."""
    found = []
    for match in entities._FIN.finditer(text):
        token = match.group()
        if not (entities._has_digit_and_letter(token) and token.isascii()):
            continue
        window_start = max(0, match.start() - entities._FIN_LABEL_WINDOW)
        if entities._interleaved(token) \
                or entities._FIN_LABEL.search(text, window_start, match.start()):
            found.append(f"{token.upper()}@{match.start()}")
    return found


def fin_texts() -> list[str]:
    rng = random.Random(11)
    pieces = ["5ZJ7K2A", "62BCDAE", "fin ", "FIN: ", "ab_1234567", "x1234567", "1234567",
              "a@", ".", "-", "+", " ", "\n", "AZE12345678", "12mayda", "a.b", "7AB3C4D.x"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
            for _ in range(3_000)]


def test_fins_equal_trying_every_position() -> None:
    for text in [*all_texts(), *fin_texts()]:
        assert [f"{e.value}@{e.start}" for e in entities._fins(text)] == reference_fins(text)


PHONE_RUN = re.compile(r"\d(?:[\d\s().\-/\u2010-\u2015]*\d)?")


def test_phone_gate_equals_counting_digits_in_every_run() -> None:
    rng = random.Random(5)
    pieces = [*"0123456789٣ ().-/–—\nab+", "050 123", "45 67"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
             for _ in range(5_000)]
    for text in [*all_texts(), *texts]:
        expected = any(entities._digits_in(run.group()) >= entities._MIN_PHONE_DIGITS
                       for run in PHONE_RUN.finditer(text))
        assert bool(entities._PHONE_DIGITS.search(text)) == expected, text


# Scoring.

@needs_corpus
def test_model_scores_equal_the_scikit_learn_pipeline() -> None:
    """The shipped model, as a process loads it from its saved file, on every corpus message
    and on random text, in one batch, in small batches and alone, against the pipeline
    trained again from the same files (the pipeline computes in 32-bit floats)."""
    model = shared_model()
    pipeline = train(read_examples(training_files(TRAIN_DIR, model_dir())))
    texts = all_texts()
    prepared = [prepare(text, find_entities(text)) for text in texts]
    expected = pipeline.predict_proba(prepared)
    together = model.probabilities_many(prepared)
    in_fives = [p for start in range(0, len(prepared), 5)
                for p in model.probabilities_many(prepared[start : start + 5])]
    for index, row in enumerate(expected):
        for scored in (together[index], in_fives[index]):
            assert [scored[label] for label in model.classes] \
                == pytest.approx(row, rel=0, abs=1e-6), texts[index]
    for index in range(0, len(prepared), 97):
        alone = model.probabilities(prepared[index])
        assert [alone[label] for label in model.classes] \
            == pytest.approx(expected[index], rel=0, abs=1e-6)


@pytest.mark.parametrize("word_ngrams", [(1, 1), (1, 3), (2, 3)])
def test_other_word_ngram_ranges_score_as_the_pipeline(word_ngrams: tuple[int, int]) -> None:
    """Word n-grams of any length are looked up by number (`_WordGrams`), never across
    two texts; the weights here are random, as only the arithmetic is checked."""
    examples = read_examples([Path(__file__).parent / "fixtures" / "tiny_train.jsonl"])
    train_texts = [prepare(e.text, find_entities(e.text)) for e in examples]
    union = build_features(word_ngrams).fit(train_texts * 2)
    size = sum(len(vectorizer.vocabulary_) for _, vectorizer in union.transformer_list)
    rng = np.random.default_rng(3)
    classifier = LinearSoftmax(CATEGORIES, rng.normal(size=(3, size)), rng.normal(size=3))
    pipeline = Pipeline([("featureunion", union),
                         ("linearsoftmax", classifier.fit(None, None))])
    model = model_of(pipeline, "")
    texts = [*train_texts, *(prepare(t, find_entities(t)) for t in random_texts(200))]
    # The training texts again, joined: n-grams known to the model span their seams.
    texts += [" ".join(train_texts[i : i + 3]) for i in range(0, len(train_texts), 2)]
    expected = pipeline.predict_proba(texts)
    scored = model.probability_rows(texts)
    assert scored == pytest.approx(expected, rel=0, abs=1e-5)


def word_terms_alone(model: Model, words: list[str]) -> dict[str, tuple]:
    """Each word's cache entry as `__missing__` makes it, one word at a time."""
    model.word_cache.clear()
    return {word: model.word_cache[word] for word in words}


def word_terms_filled(model: Model, words: list[str]) -> dict[str, tuple]:
    """Each word's cache entry after one `fill` of them all (words it leaves to
    `__missing__` are then made one at a time, as in scoring)."""
    model.word_cache.clear()
    model.word_cache.fill(words)
    # Words whose romanised form is ASCII (nearly all) are filled, not left to __missing__.
    assert set(model.word_cache) == {word for word in words if romanize(word).isascii()}
    return {word: model.word_cache[word] for word in words}


def fill_words() -> list[str]:
    """Distinct words as scoring meets them: corpus words and random ones, including
    ones romanised to nothing or to non-ASCII letters, single letters and long words."""
    rng = random.Random(13)
    texts = [*all_texts(), "ъ ь ' ъь'ъ a b 1 _ \x00 σ 一 ə", "x" * 5_000,
             "".join(rng.choice(ALPHABET) for _ in range(3_000)).replace(" ", "")]
    texts += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
              for _ in range(2_000)]
    return sorted({word for text in texts
                   for word in prepare(text, find_entities(text)).split()})


@needs_corpus
def test_filling_the_word_cache_at_once_equals_one_word_at_a_time() -> None:
    model = shared_model()
    words = fill_words()
    try:
        assert word_terms_filled(model, words) == word_terms_alone(model, words)
        # Small fills too: a word's entry never depends on the other words filled with it.
        for start in range(0, 200, 7):
            some = words[start : start + 7]
            assert word_terms_filled(model, some) == word_terms_alone(model, some)
        assert word_terms_filled(model, []) == {}
    finally:
        model.word_cache.clear()


@pytest.mark.parametrize("word_ngrams", [(1, 1), (2, 3)])
def test_filling_the_cache_of_other_models_equals_one_word_at_a_time(
        word_ngrams: tuple[int, int]) -> None:
    """Without single words among the word n-grams, and with the tiny corpus's vocabulary."""
    examples = read_examples([Path(__file__).parent / "fixtures" / "tiny_train.jsonl"])
    train_texts = [prepare(e.text, find_entities(e.text)) for e in examples]
    union = build_features(word_ngrams).fit(train_texts * 2)
    size = sum(len(vectorizer.vocabulary_) for _, vectorizer in union.transformer_list)
    classifier = LinearSoftmax(CATEGORIES, np.zeros((3, size)), np.zeros(3))
    model = model_of(Pipeline([("featureunion", union),
                                          ("linearsoftmax", classifier.fit(None, None))]), "")
    words = sorted({word for text in [*train_texts, *random_texts(300)]
                    for word in prepare(text, find_entities(text)).split()})
    assert word_terms_filled(model, words) == word_terms_alone(model, words)
