"""Training is reproducible: the same corpus gives the same model, so every deployment that
trains at first start classifies alike, and `routing.evaluate` prints the same figures."""

import numpy as np

from routing.model import TRAIN_DIR, corpus_files, read_examples
from routing.training import RECIPES, train


def test_training_twice_on_the_same_corpus_gives_the_same_weights() -> None:
    examples = read_examples(corpus_files(TRAIN_DIR))[:1500]
    first, second = (train(examples, RECIPES["svm-calibrated"]) for _ in range(2))
    weights = [np.asarray(model.named_steps["linearsoftmax"].coef) for model in (first, second)]
    assert np.array_equal(weights[0], weights[1])
