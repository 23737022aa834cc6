"""Throughput and latency of `routing.classify` on corpus-like messages, one core.

    .venv/bin/python -m bench.bench_classify [--messages 5000]    (from the repository root)

Baselines measured in the same run give the figures a scale: folding the text (the
least any classifier does), entity extraction and language detection alone (parts of
every call), and the scikit-learn pipeline's own predict_proba on the same model.
"""

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable

from routing import classify
from routing.entities import find_entities
from routing.language import detect_language
from routing.model import (
    HELDOUT_DIR,
    TRAIN_DIR,
    corpus_files,
    load_or_train,
    prepare,
    read_examples,
    shared_model,
)
from routing.text import fold

# The pipeline costs milliseconds per call; a sample is enough to show it.
_PIPELINE_SAMPLE = 500


def measure(name: str, function: Callable[[str], object], messages: list[str]) -> None:
    latencies = []
    started = time.perf_counter()
    for message in messages:
        before = time.perf_counter_ns()
        function(message)
        latencies.append(time.perf_counter_ns() - before)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] / 1e3
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e3
    print(
        f"{name:<34}{len(messages) / elapsed:>10,.0f} msg/s"
        f"   p50 {p50:>7.0f} µs   p99 {p99:>7.0f} µs"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000)
    arguments = parser.parse_args()
    # One core, as one worker process would have it.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    texts = [e.text for e in read_examples(corpus_files(TRAIN_DIR) + corpus_files(HELDOUT_DIR))]
    if not texts:
        print("no corpus under routing/corpus: nothing to measure")
        return 1
    messages = list(itertools.islice(itertools.cycle(texts), arguments.messages))
    average = sum(map(len, messages)) / len(messages)
    print(f"{len(messages)} messages from {len(texts)} corpus texts, {average:.0f} chars avg")

    shared_model()  # build or load once, outside the timings
    started = time.perf_counter()
    model = load_or_train()
    print(f"model load (fingerprint check + joblib): {time.perf_counter() - started:.3f} s\n")

    measure("baseline: fold only", fold, messages)
    measure("baseline: language only", detect_language, messages)
    measure("baseline: entities only", find_entities, messages)
    measure(
        "baseline: scikit-learn predict_proba",
        lambda text: model.pipeline.predict_proba([prepare(text, find_entities(text))]),
        messages[:_PIPELINE_SAMPLE],
    )
    measure("classify (full call)", classify, messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
