"""The statistical message classifier: its features, training, and the saved copy.

The saved model carries a fingerprint of everything it was trained from (corpus files,
installed human corrections, scikit-learn version, feature version). A process loads
the saved file when the fingerprint still matches and otherwise retrains and saves, so
a fresh clone builds its model on first use and a changed corpus is never ignored.
"""

import functools
import hashlib
import json
import logging
import operator
import os
import re
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from itertools import chain, filterfalse, repeat
from pathlib import Path
from typing import IO

import joblib
import numpy as np

from routing.entities import Entity, find_entities, replace_entities
from routing.scoring import batch_scores, text_scores
from routing.text import MAX_MODEL_CHARS, fold, romanize, strip_quotes_and_signature
from settings.model import CATEGORIES

# Bump whenever features or hyper-parameters change, so that saved models are rebuilt (the
# chosen recipe and the calibration target are part of the fingerprint already).
FEATURES_VERSION = "5"
CORPUS_DIR = Path(__file__).parent / "corpus"
TRAIN_DIR = CORPUS_DIR / "train"
HELDOUT_DIR = CORPUS_DIR / "heldout"
MODEL_FILE = "classifier.joblib"
# What the saved file holds; a file of another format is retrained and saved again.
SAVED_FORMAT = 2
# Human corrections installed by `python -m routing.train --corrections`; kept beside
# the model so that every process retraining from the fingerprint sees the same data.
CORRECTIONS_FILE = "corrections.jsonl"
_DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "var" / "model"
_log = logging.getLogger(__name__)

# The recipe the model is trained with, among the candidates `routing.training.RECIPES`
# compared by cross-validation grouped by skeleton on the training corpus only
# (`python -m routing.evaluate --compare`).
RECIPE = "svm-calibrated"
_CHAR_NGRAM_SIZES = (1, 2, 3, 4)
# The deployment default of routing.min_confidence (settings.loader), and the share of
# traffic from unseen writers the calibration lets fall below it.
DEFAULT_MIN_CONFIDENCE = 0.6
TRIAGE_SHARE = 0.17

# Personal data becomes a marker word: that a resident sends a FIN says something about
# the request, which FIN it is says nothing.
_PLACEHOLDERS = {
    "fin": " zzfin ",
    "id_card": " zzidcard ",
    "phone": " zzphone ",
    "email": " zzemail ",
}


@dataclass(frozen=True)
class Example:
    """One labelled message of the corpus or of the human corrections.

    `skeleton` names the template family or the writer's situation the message was written
    from: messages of one skeleton are near-copies, so they are never split between training
    and evaluation. An example without one is its own family. `misleading` marks a message
    whose words point at another category than its label (a complaint naming the
    registration portal, a first application full of problem words)."""

    text: str
    label: str
    lang: str = "unknown"
    skeleton: str = ""
    channel: str = "unknown"
    misleading: bool = False

    @property
    def family(self) -> str:
        return self.skeleton or f"text:{fold(self.text)}"


@dataclass(frozen=True)
class FeaturePart:
    """One TF-IDF vectorizer of the union with its slice of the classifier's weights."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: np.ndarray  # one row per term, one column per class


# What the model needs of one whitespace-separated word of `prepare`d text: the columns of
# its character n-grams and (when the model counts single words) of its word tokens, in the
# model's column type as bytes, their number, and the ids of its word tokens in the model's
# word n-grams (`_WordGrams`), as bytes of int64, and their number.
_WordTerms = tuple[bytes, int, bytes, int]
# Residents reuse a few thousand words; the bound only keeps a stream of odd tokens (codes,
# URLs, pasted logs) from growing the cache without end.
_WORD_CACHE_SIZE = 100_000
# New words in a chunk from which filling the cache in one go (`_WordCache.fill`) beats
# one `__missing__` each: its numpy calls cost some 60 µs together, a short word alone
# 5 µs and a long one up to 20 (measured).
_BATCH_FILL_MIN = 12
# The parts of a `_WordTerms`, read at C speed rather than by a generator per word.
_COLUMNS, _COLUMN_COUNT, _TOKEN_IDS, _TOKEN_COUNT = map(operator.itemgetter, range(4))
# A token in none of the model's word n-grams.
_UNKNOWN = -1


class _WordGrams:
    """The model's word n-grams of two tokens and more as numbers, so that a batch's are
    looked up by one binary search of sorted arrays rather than a dictionary look-up each.

    Each token of those n-grams has an id below `base`; an n-gram's key is its tokens' ids
    as the digits of a number in that base."""

    def __init__(self, vocabulary: dict[str, int], offset: int) -> None:
        self.ids: dict[str, int] = {}
        grams: dict[int, list[tuple[list[int], int]]] = {}
        for term, column in vocabulary.items():
            tokens = term.split(" ")
            if len(tokens) > 1:
                ids = [self.ids.setdefault(token, len(self.ids)) for token in tokens]
                grams.setdefault(len(tokens), []).append((ids, offset + column))
        self.base = max(1, len(self.ids))
        if grams and self.base ** max(grams) >= 2**63:
            raise ValueError("word n-grams too long to number in 64 bits")
        # Per size: the sorted keys and the joined column of each.
        self.sizes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for size, found in grams.items():
            keys = np.array([self._key(ids) for ids, _ in found], np.int64)
            order = np.argsort(keys)
            self.sizes[size] = (keys[order], np.array([c for _, c in found], np.intp)[order])

    def _key(self, ids: list[int]) -> int:
        key = 0
        for token in ids:
            key = key * self.base + token
        return key

    def columns(self, ids: np.ndarray, text_of_token: np.ndarray, size: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """Joined columns of the known n-grams of `size` tokens among the tokens `ids` of
        many texts (never across two texts), and the text of each."""
        keys, columns = self.sizes.get(size, (None, None))
        count = len(ids) - size + 1
        if keys is None or count <= 0:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        runs = np.zeros(count, np.int64)
        known = text_of_token[:count] == text_of_token[size - 1 :]
        for start in range(size):
            window = ids[start : start + count]
            known &= window != _UNKNOWN
            runs = runs * self.base + window
        at = np.minimum(np.searchsorted(keys, runs), len(keys) - 1)
        known &= keys.take(at) == runs
        return columns.take(at[known]), text_of_token[:count][known]


class _WordCache(dict[str, _WordTerms]):
    """Per-word feature work of one model, done once per distinct word: n-gram strings and
    vocabulary look-ups cost more than everything else in scoring a message."""

    def __init__(self, chars: FeaturePart, words: FeaturePart, token: "re.Pattern[str]",
                 grams: _WordGrams, unigrams: bool,
                 column_type: type[np.unsignedinteger]) -> None:
        super().__init__()
        self._chars, self._words, self._token, self._grams = chars, words, token, grams
        self._unigrams, self._typecode = unigrams, np.dtype(column_type).char
        self._column_type = column_type
        self._ascii = _AsciiGrams(chars.vocabulary)

    def fill(self, words: Iterable[str]) -> None:
        """Add distinct words not yet cached, as `__missing__` would one by one, with the
        n-gram work of all of them done in a few numpy calls: building and looking up
        n-gram strings costs most of a new word's time. Words whose romanised form is not
        ASCII are left to `__missing__`."""
        words = list(words)
        if len(self) + len(words) > _WORD_CACHE_SIZE:
            self.clear()
        # Romanising never joins or splits words and never yields whitespace, so the
        # romanised text joined by single spaces splits back into one form per word.
        romanized = romanize(" ".join(words)).split(" ")
        if len(romanized) != len(words):  # never expected; the slow path stays exact
            return
        if not all(map(str.isascii, romanized)):
            ascii_words = [(w, r) for w, r in zip(words, romanized, strict=True) if r.isascii()]
            words, romanized = [w for w, _ in ascii_words], [r for _, r in ascii_words]
        if not words:
            return
        counts, columns = self._ascii.find(romanized)
        count = len(words)
        # A word of ASCII letters and digits is one token, with no regular expression.
        token = self._token.findall
        tokens = [[roman] if roman.isalnum() else token(roman) for roman in romanized]
        flat = list(chain.from_iterable(tokens))
        token_counts = np.fromiter(map(len, tokens), np.intp, count)
        ids = np.fromiter(map(self._grams.ids.get, flat, repeat(_UNKNOWN)), np.int64, len(flat))
        if self._unigrams:
            # Word columns follow the character ones (`Model.joined_idf`), and each word's
            # follow its character columns: a stable sort by word keeps both orders.
            found = np.fromiter(map(self._words.vocabulary.get, flat, repeat(_UNKNOWN)),
                                np.int64, len(flat))
            known = found != _UNKNOWN
            word_of = np.concatenate((np.repeat(np.arange(count), counts),
                                      np.repeat(np.arange(count), token_counts)[known]))
            columns = np.concatenate((columns, found[known] + len(self._chars.vocabulary)))
            columns = columns[np.argsort(word_of, kind="stable")]
            counts = counts + np.bincount(word_of[len(word_of) - int(known.sum()):],
                                          minlength=count)
        column_bytes = columns.astype(self._column_type).tobytes()
        id_bytes = ids.tobytes()
        column_ends = (np.cumsum(counts) * np.dtype(self._column_type).itemsize).tolist()
        id_ends = (np.cumsum(token_counts) * 8).tolist()
        column_start = id_start = 0
        for word, column_count, column_end, token_count, id_end in zip(
                words, counts.tolist(), column_ends, token_counts.tolist(), id_ends,
                strict=True):
            self[word] = (column_bytes[column_start:column_end], column_count,
                          id_bytes[id_start:id_end], token_count)
            column_start, id_start = column_end, id_end

    def __missing__(self, word: str) -> _WordTerms:
        if len(self) >= _WORD_CACHE_SIZE:
            self.clear()
        # char_grams of one word is that word's share of char_grams of the whole text:
        # romanising never joins or splits words.
        romanized = romanize(word)
        columns = [column for column in map(self._chars.vocabulary.get,
                                            _romanized_grams(romanized))
                   if column is not None]
        # Word tokens never span whitespace, so the text's tokens are its words' in order.
        tokens = self._token.findall(romanized)
        if self._unigrams:
            # Word columns follow the character ones (`Model.joined_idf`).
            offset = len(self._chars.vocabulary)
            columns += [offset + column for column in map(self._words.vocabulary.get, tokens)
                        if column is not None]
        ids = [self._grams.ids.get(token, _UNKNOWN) for token in tokens]
        # array.array packs a short list in a fraction of numpy's time.
        terms = self[word] = (array(self._typecode, columns).tobytes(), len(columns),
                              array("q", ids).tobytes(), len(ids))
        return terms


class _AsciiGrams:
    """The character vocabulary's terms of ASCII letters as numbers, to look up the n-grams
    of many ASCII words in a few numpy calls rather than a dictionary look-up each.

    A gram's number is its characters' codes as the 7-bit digits of a number. Grams of one
    to three characters index a table of every possible one (2.1 million entries, 4 MB of
    16-bit columns); the vocabulary's grams of four are searched in a sorted array."""

    _SHORT = 3   # the longest gram looked up in the table

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self.column_type = np.int16 if len(vocabulary) < 2**15 else np.int32
        # Where the grams of each length start in the table, by length.
        self.starts = [0]
        for size in range(1, self._SHORT + 1):
            self.starts.append(self.starts[-1] + 128**size)
        self.table = np.full(self.starts[-1], _UNKNOWN, self.column_type)
        keys, columns = [], []
        for term, column in vocabulary.items():
            if not term.isascii() or not 0 < len(term) <= 4:
                continue
            number = 0
            for character in term.encode():
                number = number << 7 | character
            if len(term) <= self._SHORT:
                self.table[self.starts[len(term) - 1] + number] = column
            else:
                keys.append(number)
                columns.append(column)
        order = np.argsort(np.array(keys, np.int64))
        self.keys = np.array(keys, np.int64)[order]
        self.columns = np.array(columns, self.column_type)[order]

    def find(self, romanized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per ASCII romanised word, the number of its known character n-grams, and their
        columns end to end, in `_romanized_grams`' order (by length, then position)."""
        count = len(romanized)
        lengths = np.fromiter(map(len, romanized), np.intp, count)
        # The words padded with a space each side, end to end; three spare bytes let every
        # position start a gram of four.
        text = np.frombuffer(f" {'  '.join(romanized)} ".encode() + b"\0\0\0", np.uint8)
        text = text.astype(np.int64)
        positions = len(text) - 3
        # The column of the gram of each length at each position, words' seams included.
        found = np.empty((len(_CHAR_NGRAM_SIZES), positions), self.column_type)
        number = np.zeros(positions, np.int64)
        for row, size in enumerate(_CHAR_NGRAM_SIZES):
            number = number << 7 | text[size - 1 : size - 1 + positions]
            if size <= self._SHORT:
                found[row] = self.table.take(number + self.starts[size - 1])
            elif len(self.keys):
                at = np.minimum(np.searchsorted(self.keys, number), len(self.keys) - 1)
                found[row] = np.where(self.keys.take(at) == number, self.columns.take(at),
                                      _UNKNOWN)
            else:
                found[row] = _UNKNOWN
        # Grams of each word (an empty one has none), by size then position: a run of
        # positions per word and size.
        padded = lengths + 2
        starts = np.cumsum(padded) - padded
        sizes = np.array(_CHAR_NGRAM_SIZES, np.intp)
        runs = np.where(lengths[:, np.newaxis] > 0, padded[:, np.newaxis] - sizes + 1, 0)
        runs = np.maximum(runs, 0)
        run_starts = (starts[:, np.newaxis] + (sizes - 1) * positions).ravel()
        flat_runs = runs.ravel()
        run_offsets = np.cumsum(flat_runs) - flat_runs
        grams = found.ravel().take(np.repeat(run_starts - run_offsets, flat_runs)
                                   + np.arange(int(flat_runs.sum())))
        known = grams != _UNKNOWN
        word_of_gram = np.repeat(np.arange(count), runs.sum(axis=1))
        return np.bincount(word_of_gram[known], minlength=count), grams[known]


@dataclass(frozen=True)
class Model:
    """A trained classifier and the fingerprint of what it was trained on.

    Scoring one message through the scikit-learn pipeline it was trained as
    (`routing.training`) costs about 1.5 ms, nearly all of it input validation and
    dispatch. `probabilities_many` does the same arithmetic (sublinear TF times IDF, L2 norm
    per vectorizer, linear scores, softmax) on the fitted arrays directly
    (`routing.scoring`), and the n-grams of each distinct word are looked up once
    (`_WordCache`); a test holds the two equal. The model is only those arrays, so loading
    a saved one needs no scikit-learn.
    """

    fingerprint: str
    classes: tuple[str, ...]
    intercept: np.ndarray
    chars: FeaturePart
    words: FeaturePart
    word_ngrams: tuple[int, int]
    word_cache: _WordCache = field(compare=False, repr=False)
    word_grams: _WordGrams = field(compare=False, repr=False)
    # Both vectorizers' IDF and weights (times the IDF, one row per class) end to end, the
    # word columns after the character ones: a batch's terms are counted in one pass.
    joined_idf: np.ndarray = field(compare=False, repr=False)
    idf_weights: np.ndarray = field(compare=False, repr=False)
    # 16-bit columns are sorted by radix (`routing.scoring`); a larger vocabulary works
    # too, only slower.
    column_type: type[np.unsignedinteger] = field(compare=False, repr=False)

    token_pattern: str = field(compare=False, repr=False)

    @classmethod
    def from_parts(cls, fingerprint: str, classes: tuple[str, ...], intercept: np.ndarray,
                   chars: FeaturePart, words: FeaturePart, word_ngrams: tuple[int, int],
                   token_pattern: str) -> "Model":
        """The model of a trained classifier's arrays (`routing.training.model_of`, or a
        saved file): the scoring's caches and joined arrays are built here."""
        vocabulary = len(chars.vocabulary) + len(words.vocabulary)
        column_type = np.uint16 if vocabulary <= 2**16 else np.uint32
        grams = _WordGrams(words.vocabulary, len(chars.vocabulary))
        cache = _WordCache(chars, words, re.compile(token_pattern), grams,
                           word_ngrams[0] == 1, column_type)
        idf = np.concatenate((chars.idf, words.idf))
        weights = np.concatenate((chars.weights, words.weights))
        return cls(fingerprint, classes, intercept, chars, words, word_ngrams, cache, grams,
                   idf, np.ascontiguousarray((weights * idf[:, np.newaxis]).T), column_type,
                   token_pattern)

    def probabilities(self, prepared: str) -> dict[str, float]:
        """Probability of each category for text already passed through `prepare`."""
        [probabilities] = self.probabilities_many([prepared])
        return probabilities

    def probabilities_many(self, prepared: Sequence[str]) -> list[dict[str, float]]:
        """`probabilities` of many texts at once."""
        return [dict(zip(self.classes, row, strict=True))
                for row in self.probability_rows(prepared).tolist()]

    def probability_rows(self, prepared: Sequence[str]) -> np.ndarray:
        """`probabilities_many` as one row per text, one column per class (`classes`): every
        numpy call is made once per chunk of texts, and Python touches each word once (a
        dictionary look-up)."""
        if not prepared:
            return np.zeros((0, len(self.classes)))
        return np.concatenate([self._chunk_probabilities(prepared[start:end])
                               for start, end in _chunks(prepared, _CHUNK_CHARS)])

    def _chunk_probabilities(self, prepared: Sequence[str]) -> np.ndarray:
        count = len(prepared)
        if count == 1:
            return _softmax(self.intercept + self._text_scores(prepared[0]))
        split = [text.split() for text in prepared]
        cache = self.word_cache
        missing = set(filterfalse(cache.__contains__, chain.from_iterable(split)))
        if len(missing) >= _BATCH_FILL_MIN:
            cache.fill(missing)
        terms = list(map(cache.__getitem__, chain.from_iterable(split)))
        text_of_word = np.repeat(np.arange(count), np.fromiter(map(len, split), np.intp, count))
        column_type = self.column_type
        columns = [np.frombuffer(b"".join(map(_COLUMNS, terms)), column_type)]
        texts = [np.repeat(text_of_word, np.fromiter(map(_COLUMN_COUNT, terms), np.intp,
                                                     len(terms)))]
        # Word n-grams of two tokens and more run across words but never across texts.
        ids = np.frombuffer(b"".join(map(_TOKEN_IDS, terms)), np.int64)
        text_of_token = np.repeat(text_of_word, np.fromiter(map(_TOKEN_COUNT, terms), np.intp,
                                                            len(terms)))
        low, high = self.word_ngrams
        for size in range(max(2, low), high + 1):
            found, of_text = self.word_grams.columns(ids, text_of_token, size)
            columns.append(found.astype(column_type))
            texts.append(of_text)
        scores = self.intercept + batch_scores(
            np.concatenate(columns), np.concatenate(texts), count, self.joined_idf,
            self.idf_weights, len(self.chars.vocabulary))
        return _softmax(scores)

    def _text_scores(self, prepared: str) -> np.ndarray:
        """`_chunk_probabilities`' scores of one text, with no texts to tell apart: half
        the numpy calls, most of the cost of scoring one message."""
        terms = list(map(self.word_cache.__getitem__, prepared.split()))
        columns = [np.frombuffer(b"".join(map(_COLUMNS, terms)), self.column_type)]
        ids = np.frombuffer(b"".join(map(_TOKEN_IDS, terms)), np.int64)
        low, high = self.word_ngrams
        for size in range(max(2, low), high + 1):
            found, _ = self.word_grams.columns(ids, np.zeros(len(ids), np.intp), size)
            columns.append(found.astype(self.column_type))
        return text_scores(np.concatenate(columns), self.joined_idf, self.idf_weights,
                           len(self.chars.vocabulary))


# Scoring's arrays hold some four entries per character of text. Past some 100,000 entries
# (a few hundred messages) each fresh array costs more in page faults than in arithmetic
# (measured: 31 µs a message in chunks of 50,000 characters, 19-21 µs in chunks of 8,000
# to 25,000), so a large batch is scored in chunks of about this many characters.
_CHUNK_CHARS = 10_000


def _softmax(scores: np.ndarray) -> np.ndarray:
    """The softmax of each row, in one call for all."""
    exponentials = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def _chunks(texts: Sequence[str], budget: int) -> Iterator[tuple[int, int]]:
    """Start and end of consecutive runs of texts of about `budget` characters each."""
    start, size = 0, 0
    for end, text in enumerate(texts, start=1):
        size += len(text)
        if size >= budget:
            yield start, end
            start, size = end, 0
    if start < len(texts):
        yield start, len(texts)


def prepare(text: str, entities: tuple[Entity, ...]) -> str:
    """The form the model reads: entities as marker words, quoted replies and signature
    dropped, cut to `MAX_MODEL_CHARS`, folded."""
    marked = replace_entities(text, entities, lambda entity: _PLACEHOLDERS[entity.kind])
    return fold(strip_quotes_and_signature(marked)[:MAX_MODEL_CHARS])


def read_examples(paths: Iterable[Path]) -> list[Example]:
    """Examples from JSONL files; a malformed line raises ValueError naming file and line."""
    examples = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    examples.append(_parse_example(line, f"{path}:{number}"))
    return examples


def corpus_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def model_dir() -> Path:
    """Where the model is saved: `CC_MODEL_DIR`, or var/model in the checkout."""
    return Path(os.environ.get("CC_MODEL_DIR") or _DEFAULT_MODEL_DIR)


def training_files(train_dir: Path, directory: Path) -> list[Path]:
    """The shipped corpus plus the installed corrections, if any."""
    corrections = directory / CORRECTIONS_FILE
    return corpus_files(train_dir) + ([corrections] if corrections.exists() else [])


def fingerprint(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256(f"{FEATURES_VERSION}|{RECIPE}|{TRIAGE_SHARE}|{DEFAULT_MIN_CONFIDENCE}|"
                            f"{version('scikit-learn')}".encode())
    for path in paths:
        digest.update(f"|{path.name}|".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def prepared_texts(examples: Iterable[Example]) -> tuple[list[str], list[str]]:
    """Model input and label of each example."""
    texts, labels = [], []
    for example in examples:
        texts.append(prepare(example.text, find_entities(example.text)))
        labels.append(example.label)
    return texts, labels


def char_grams(prepared: str) -> list[str]:
    """The 1-4 character n-grams of each romanised word padded with spaces (scikit-learn's
    "char_wb" features, so a word's first and last letters count). List comprehensions:
    scikit-learn's own analyzer loops in Python per n-gram and costs twice as much, which a
    single message's time budget cannot spare."""
    return _romanized_grams(romanize(prepared))


def _romanized_grams(romanized: str) -> list[str]:
    """`char_grams` of text already romanised."""
    grams: list[str] = []
    for word in romanized.split():
        padded = f" {word} "
        size = len(padded)
        grams += [padded[i : i + n] for n in _CHAR_NGRAM_SIZES for i in range(size - n + 1)]
    return grams


def load_or_train(train_dir: Path = TRAIN_DIR, directory: Path | None = None) -> Model:
    """The saved model if its fingerprint matches the training data, else a new one,
    trained and saved."""
    directory = directory or model_dir()
    saved = load_saved(directory / MODEL_FILE)
    if saved is not None and saved.fingerprint == fingerprint(training_files(train_dir, directory)):
        return saved
    return retrain(train_dir, directory)


def retrain(train_dir: Path = TRAIN_DIR, directory: Path | None = None) -> Model:
    """Train on the corpus and installed corrections, save, and return the new model."""
    directory = directory or model_dir()
    files = training_files(train_dir, directory)
    # Imported here: only a process that trains pays for scikit-learn.
    from routing.training import train_model
    model = train_model(read_examples(files), fingerprint(files))
    try:
        save(model, directory)
    except OSError:
        # A read-only or full disk costs the next process a retraining, not this
        # process its classifier.
        _log.warning("could not save the classifier in %s", directory, exc_info=True)
    return model


@functools.cache
def shared_model() -> Model:
    """The process-wide model, loaded (or built) on first use."""
    return load_or_train()


def save(model: Model, directory: Path) -> None:
    """The model's arrays and vocabularies, with what they were trained from: plain numpy
    and Python values, which load without scikit-learn."""
    saved = {"format": SAVED_FORMAT, "fingerprint": model.fingerprint,
             "classes": list(model.classes), "intercept": model.intercept,
             "word_ngrams": list(model.word_ngrams), "token_pattern": model.token_pattern,
             **{name: {"vocabulary": part.vocabulary, "idf": part.idf,
                       "weights": part.weights}
                for name, part in (("chars", model.chars), ("words", model.words))}}
    write_atomically(directory / MODEL_FILE, lambda handle: joblib.dump(saved, handle))


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write through a temporary file and rename: concurrent processes see the old file
    or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        try:
            write(handle)
        except BaseException:
            os.unlink(handle.name)
            raise
    # Temporary files are private (0600); the app and the workers may run as other users.
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def load_saved(path: Path) -> Model | None:
    if not path.exists():
        return None
    try:
        saved = joblib.load(path)
        if saved["format"] != SAVED_FORMAT:
            return None
        low, high = saved["word_ngrams"]
        return Model.from_parts(
            saved["fingerprint"], tuple(saved["classes"]), saved["intercept"],
            *(FeaturePart(saved[name]["vocabulary"], saved[name]["idf"],
                          saved[name]["weights"]) for name in ("chars", "words")),
            (low, high), saved["token_pattern"])
    except Exception:  # any unreadable file (an older format too) is rebuilt, never fatal
        return None


def _parse_example(line: str, where: str) -> Example:
    try:
        record = json.loads(line)
        example = Example(
            str(record["text"]),
            record["label"],
            record.get("lang", "unknown"),
            str(record.get("skeleton", "")),
            record.get("channel", "unknown"),
            bool(record.get("misleading", False)),
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{where}: not a {{text, label, lang}} object: {error}") from error
    if example.label not in CATEGORIES:
        raise ValueError(f"{where}: label {example.label!r} is not one of {CATEGORIES}")
    return example
