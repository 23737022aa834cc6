"""Agents' corrections teach the model a situation its corpus lacked: a batch of corrected
messages, installed by `routing.train`, moves the figures on held-out messages of that
situation (other texts than the corrected ones)."""

import json
import random
import shutil
from pathlib import Path

from routing.corpus.generate import message, read_skeletons
from routing.evaluate import model_outcomes, report
from routing.model import Example, load_or_train
from routing.train import install_corrections

FIXTURES = Path(__file__).parent / "fixtures"
# Complaints about the registration portal: support, in words the tiny corpus reads as
# registration.
SITUATIONS = ("sup-portal-form-broken", "sup-portal-otp", "sup-registration-stuck")


def _messages(seed: int, count: int) -> list[dict[str, object]]:
    skeletons = [s for s in read_skeletons() if s.key in SITUATIONS]
    rng = random.Random(seed)
    return [message(skeletons[i % len(skeletons)], rng) for i in range(count)]


def test_a_batch_of_corrections_moves_the_heldout_figures(tmp_path: Path) -> None:
    corpus, directory = tmp_path / "corpus", tmp_path / "model"
    corpus.mkdir()
    shutil.copy(FIXTURES / "tiny_train.jsonl", corpus)
    heldout = [Example(str(r["text"]), str(r["label"]), str(r["lang"]))
               for r in _messages(seed=1, count=60)]
    before = report(model_outcomes(load_or_train(corpus, directory), heldout), thresholds=())

    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                              for r in _messages(seed=2, count=30)), encoding="utf-8")
    installed, dropped = install_corrections(export, heldout, directory)
    after = report(model_outcomes(load_or_train(corpus, directory), heldout), thresholds=())

    assert installed + dropped == 30
    assert after.accuracy >= 0.95 and after.accuracy - before.accuracy >= 0.2, \
        (before.accuracy, after.accuracy)
