"""Classify one incoming message as inquiry, registration or support.

Evidence is taken in this order, first decisive one wins:
1. a hint the caller is sure of (confidence 1.0, e.g. the IVR digit the resident
   pressed): the resident's own choice outranks anything read from the text;
2. configured keyword rules, in their order;
3. nothing to read (empty, only emoji or punctuation): "inquiry" with confidence 0.0,
   which the caller sends to triage;
4. the statistical model, with a weaker hint folded in as prior evidence.

Rules and the model read the same text: its first 5,000 characters without quoted
replies and e-mail signature (`routing.model.prepare`).
"""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from routing import entities, language, model
from routing.entities import Entity, find_entities
from routing.language import detect_language
from routing.model import CATEGORIES, prepare
from routing.text import has_content, words
from settings.model import KeywordOverride

__all__ = ["CATEGORIES", "Classification", "Hints", "KeywordRule", "classify", "classify_many",
           "clear_caches"]


@dataclass(frozen=True)
class Hints:
    """Evidence from outside the text: the IVR digit pressed, the mailbox written to."""

    category: str | None = None
    confidence: float = 1.0


# Any keyword (case- and diacritic-insensitive, whole word or phrase) → category: exactly
# the override config.yaml declares under routing.category_keywords.
KeywordRule = KeywordOverride


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    language: str
    entities: tuple[Entity, ...]
    source: str


def classify(
    text: str,
    *,
    hints: Hints | None = None,
    rules: Sequence[KeywordRule] = (),
    default_language: str = "az",
) -> Classification:
    """Category, confidence, language and entities of one message; never raises on
    odd text (empty, binary, very long). Raises ValueError for a hint naming no category."""
    [result] = classify_many([text], hints=[hints], rules=rules,
                             default_languages=[default_language])
    return result


def classify_many(
    texts: Sequence[str],
    *,
    hints: Sequence[Hints | None] | None = None,
    rules: Sequence[KeywordRule] = (),
    default_languages: Sequence[str] | None = None,
) -> list[Classification]:
    """`classify` of many messages (each with its hint and default language): those left to
    the model are scored in one call (`Model.probability_rows`)."""
    hints = hints or [None] * len(texts)
    default_languages = default_languages or ["az"] * len(texts)
    results: list[Classification | None] = []
    for_model: list[tuple[int, str, Hints | None, str, tuple[Entity, ...]]] = []
    for text, given, default_language in zip(texts, hints, default_languages, strict=True):
        hint = _checked(given)
        entities = find_entities(text)
        language = detect_language(text, default_language)
        result, prepared = _without_model(text, hint, rules, language, entities)
        if result is None:
            for_model.append((len(results), prepared, hint, language, entities))
        results.append(result)
    shared = model.shared_model()
    scored = shared.probability_rows([p for _, p, *_ in for_model]).tolist()
    for (index, _, hint, language, entities), row in zip(for_model, scored, strict=True):
        if hint is not None:
            probabilities = _with_prior(dict(zip(shared.classes, row, strict=True)), hint)
            category = max(probabilities, key=probabilities.__getitem__)
            confidence = probabilities[category]
        else:
            # The first of equal maxima, as max() over the categories would pick.
            confidence = max(row)
            category = shared.classes[row.index(confidence)]
        results[index] = Classification(category, confidence, language, entities, "model")
    return results  # type: ignore[return-value]


def clear_caches() -> None:
    """Forget every word, chunk and phone stretch seen so far, as a fresh process would:
    the work they spare is part of an honest measurement of unseen text."""
    model.shared_model().word_cache.clear()
    language.clear_cache()
    entities.clear_cache()


def _without_model(text: str, hint: Hints | None, rules: Sequence[KeywordRule],
                   language: str, entities: tuple[Entity, ...]
                   ) -> tuple[Classification | None, str]:
    """The classification of `text` when a hint, a rule or the lack of words decides it, or
    None and the text prepared for the model."""
    if hint is not None and hint.confidence >= 1.0:
        return Classification(hint.category, 1.0, language, entities, "hint"), ""
    prepared = prepare(text, entities)
    if rules:
        prepared_words = words(prepared)
        for rule in rules:
            if _keyword_pattern(rule).search(prepared_words):
                return Classification(rule.category, 1.0, language, entities, "rule"), ""
    if not has_content(prepared):
        return Classification("inquiry", 0.0, language, entities, "empty"), ""
    return None, prepared


def _checked(hints: Hints | None) -> Hints | None:
    if hints is None or hints.category is None or hints.confidence <= 0.0:
        return None
    if hints.category not in CATEGORIES:
        raise ValueError(f"hint category {hints.category!r} is not one of {CATEGORIES}")
    return hints


def _with_prior(probabilities: dict[str, float], hint: Hints) -> dict[str, float]:
    """Bayes' rule with the hint as prior: the hinted category gets `confidence`, the
    others share the rest. A hint of 1/3 changes nothing; one near 1.0 almost decides."""
    rest = (1.0 - hint.confidence) / (len(CATEGORIES) - 1)
    weighted = {
        category: p * (hint.confidence if category == hint.category else rest)
        for category, p in probabilities.items()
    }
    total = sum(weighted.values())
    return {category: weight / total for category, weight in weighted.items()}


@functools.lru_cache(maxsize=256)
def _keyword_pattern(rule: KeywordRule) -> re.Pattern[str]:
    """Matches `words` of the text: the same folding as the keywords, single spaces."""
    phrases = (words(keyword) for keyword in rule.keywords)
    alternatives = "|".join(re.escape(phrase) for phrase in phrases if phrase)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)" if alternatives else r"(?!)")
