"""Training the message classifier (scikit-learn): the candidate recipes, the fitted
pipeline, and the runtime model made of it (`routing.model.Model`).

Only training imports scikit-learn. A process that loads a saved model scores with plain
arrays and never pays scikit-learn's import (some 90 MB and half a second), so the app,
the worker and its jobs carry it only when they retrain because the corpus changed.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from routing.model import (
    DEFAULT_MIN_CONFIDENCE,
    RECIPE,
    TRIAGE_SHARE,
    Example,
    FeaturePart,
    Model,
    char_grams,
    prepared_texts,
)
from routing.text import romanize
from settings.model import CATEGORIES

_WORD_NGRAMS = (1, 2)
_REGULARISATION_C = 10.0
_SVM_C = 1.0
# Folds of the out-of-fold scores the calibration learns from; a corpus with fewer
# families per category than this (a test's tiny corpus) is left uncalibrated.
CALIBRATION_FOLDS = 5


@dataclass(frozen=True)
class Recipe:
    """One candidate classifier: the learners whose linear scores it combines and whether
    a calibration maps those scores to probabilities. Every recipe ends as one linear
    model with a softmax, so the fast scoring path serves them all."""

    name: str
    learners: tuple[str, ...]
    calibrated: bool
    description: str


def _logistic() -> LogisticRegression:
    return LogisticRegression(C=_REGULARISATION_C, max_iter=5_000)


def _svm() -> LinearSVC:
    # liblinear visits the examples in a random order; a fixed seed makes two trainings on
    # the same corpus (two deployments, two evaluation runs) give the same model.
    return LinearSVC(C=_SVM_C, random_state=0)


_LEARNERS: dict[str, Callable[[], LogisticRegression | LinearSVC]] = {
    "logistic": _logistic,
    "svm": _svm,
}
RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe("logistic", ("logistic",), False,
               "character 1-4 + word 1-2 TF-IDF, logistic regression (the previous learner)"),
        Recipe("svm", ("svm",), False, "same features, linear SVM, softmax of its margins"),
        Recipe("svm-calibrated", ("svm",), True,
               "linear SVM, margins calibrated on grouped out-of-fold scores"),
        Recipe("ensemble-calibrated", ("logistic", "svm"), True,
               "logistic regression + linear SVM, both scores calibrated together"),
    )
}


class LinearSoftmax(ClassifierMixin, BaseEstimator):
    """Softmax of linear scores with given weights: what every recipe reduces to once its
    learners and calibration are multiplied out."""

    def __init__(self, classes: Sequence[str] = (), coef: np.ndarray | None = None,
                 intercept: np.ndarray | None = None) -> None:
        self.classes = classes
        self.coef = coef
        self.intercept = intercept

    def fit(self, features: object, labels: object) -> "LinearSoftmax":
        self.classes_ = np.asarray(self.classes)
        self.coef_ = np.asarray(self.coef)
        self.intercept_ = np.asarray(self.intercept)
        return self

    def decision_function(self, features: sparse.spmatrix) -> np.ndarray:
        return np.asarray(features @ self.coef_.T) + self.intercept_

    def predict_proba(self, features: sparse.spmatrix) -> np.ndarray:
        scores = self.decision_function(features)
        exponentials = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    def predict(self, features: sparse.spmatrix) -> np.ndarray:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]


def train(examples: Iterable[Example], recipe: Recipe | None = None) -> Pipeline:
    """A fitted pipeline over `prepare`d text; raises ValueError when a category has
    no examples (a missing corpus), since the model could never predict it."""
    examples = list(examples)
    texts, labels = prepared_texts(examples)
    missing = set(CATEGORIES) - set(labels)
    if missing:
        raise ValueError(f"no training examples of {sorted(missing)}: is the corpus missing?")
    recipe = recipe or RECIPES[RECIPE]
    union = build_features()
    matrix = union.fit_transform(texts)
    for _, vectorizer in union.transformer_list:
        # Terms cut by min_df are kept only for introspection and would double the file.
        vectorizer.stop_words_ = None
    classes, coef, intercept = _fit_linear(recipe, matrix, np.asarray(labels),
                                           [example.family for example in examples])
    classifier = LinearSoftmax(classes, coef, intercept).fit(matrix, labels)
    return Pipeline([("featureunion", union), ("linearsoftmax", classifier)])


def _fit_linear(recipe: Recipe, matrix: sparse.spmatrix, labels: np.ndarray,
                families: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Classes, weights (class × feature) and intercepts of the recipe's final linear model.

    Calibration: a multinomial logistic regression learns probabilities from the learners'
    scores on families each learner never saw (grouped out-of-fold), so the confidence
    reflects text unlike the training corpus, not the corpus it memorised. Its weights
    multiplied into the learners' give one linear model again."""
    weights, intercepts = _fit_learners(recipe, matrix, labels)
    classes = tuple(str(label) for label in np.unique(labels))
    if not recipe.calibrated or not _can_calibrate(labels, families):
        share = 1.0 / len(recipe.learners)   # the learners' average
        stacked = np.hstack([np.eye(len(classes)) * share] * len(recipe.learners))
        return classes, stacked @ weights, stacked @ intercepts
    out_of_fold = np.zeros((len(labels), len(intercepts)))
    for fitted, scored in GroupKFold(CALIBRATION_FOLDS).split(matrix, labels, families):
        fold_weights, fold_intercepts = _fit_learners(recipe, matrix[fitted], labels[fitted])
        out_of_fold[scored] = np.asarray(matrix[scored] @ fold_weights.T) + fold_intercepts
    calibration = LogisticRegression(C=_REGULARISATION_C, max_iter=5_000)
    calibration.fit(out_of_fold, labels)
    temperature = triage_temperature(calibration.decision_function(out_of_fold))
    return (classes, calibration.coef_ @ weights / temperature,
            (calibration.coef_ @ intercepts + calibration.intercept_) / temperature)


def triage_temperature(scores: np.ndarray, threshold: float = DEFAULT_MIN_CONFIDENCE,
                       share: float = TRIAGE_SHARE) -> float:
    """The temperature dividing calibrated scores so that `share` of the messages they
    describe (families the model had not seen) fall below `threshold`.

    Calibrated probabilities put the default threshold where a message is more likely wrong
    than right: too low a bar to catch most mistakes. The temperature keeps the order (which
    messages are least sure) and moves the scale so that the deployment's default threshold
    sends a chosen share of traffic to triage; `routing.evaluate` prints what other
    thresholds would send and catch."""
    def below(temperature: float) -> float:
        tempered = scores / temperature
        tempered = np.exp(tempered - tempered.max(axis=1, keepdims=True))
        return float(np.mean(tempered.max(axis=1) / tempered.sum(axis=1) < threshold))

    low, high = 0.05, 50.0
    for _ in range(50):   # below() grows with the temperature: bisect
        middle = (low * high) ** 0.5
        low, high = (middle, high) if below(middle) < share else (low, middle)
    return (low * high) ** 0.5


def _fit_learners(recipe: Recipe, matrix: sparse.spmatrix,
                  labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The learners' weights stacked (one row per learner and class) and intercepts."""
    weights, intercepts = [], []
    for name in recipe.learners:
        learner = _LEARNERS[name]().fit(matrix, labels)
        weights.append(learner.coef_)
        intercepts.append(learner.intercept_)
    return np.vstack(weights), np.concatenate(intercepts)


def _can_calibrate(labels: np.ndarray, families: Sequence[str]) -> bool:
    per_category = {label: set() for label in CATEGORIES}
    for label, family in zip(labels, families, strict=True):
        per_category[str(label)].add(family)
    return min(map(len, per_category.values())) >= CALIBRATION_FOLDS * 4


def build_features(word_ngrams: tuple[int, int] = _WORD_NGRAMS) -> FeatureUnion:
    """Character n-grams survive typos, missing diacritics and suffixes glued to
    stems; word n-grams add phrases ("not paid")."""
    return FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(
                    analyzer=char_grams,
                    min_df=2,
                    sublinear_tf=True,
                    dtype=np.float32,
                ),
            ),
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=word_ngrams,
                    preprocessor=romanize,
                    lowercase=False,
                    token_pattern=r"(?u)\b\w+\b",
                    sublinear_tf=True,
                    dtype=np.float32,
                ),
            ),
        ]
    )


def model_of(pipeline: Pipeline, fingerprint: str) -> Model:
    """The runtime model of a fitted pipeline: each vectorizer's vocabulary and IDF with its
    slice of the classifier's weights."""
    union, classifier = pipeline.named_steps["featureunion"], pipeline.steps[-1][1]
    parts, offset = {}, 0
    for name, vectorizer in union.transformer_list:
        size = len(vectorizer.vocabulary_)
        weights = np.ascontiguousarray(classifier.coef_[:, offset : offset + size].T)
        parts[name] = FeaturePart(dict(vectorizer.vocabulary_),
                                  vectorizer.idf_.astype(np.float64), weights)
        offset += size
    words = union.named_transformers["words"]
    return Model.from_parts(
        fingerprint, tuple(str(label) for label in classifier.classes_),
        np.asarray(classifier.intercept_, np.float64).copy(), parts["chars"], parts["words"],
        tuple(words.ngram_range), words.token_pattern)


def train_model(examples: Iterable[Example], fingerprint: str) -> Model:
    """`train`, as the runtime model."""
    return model_of(train(examples), fingerprint)
