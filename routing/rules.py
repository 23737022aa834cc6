"""Queue selection: the first routing rule whose conditions hold decides the queue.

Rules come from `routing.rules` in config.yaml. A rule's conditions are ANDed;
a rule's keywords are alternatives (any one of them is enough). Keywords match
whole words or phrases, ignoring case and Azerbaijani diacritics, because
residents often type on phones without ə ğ ı ö ü ş ç.

Low classifier confidence: a category the classifier is unsure of must not
route anything, so below `min_confidence` only rules built on deterministic
evidence may still decide: a rule needs a `queue_hint` or `keywords`
condition and no `category` condition (a category condition would rest on
the very guess we distrust). Channel and language alone describe the message,
not its subject, so a rule with only those does not count as evidence of
where the conversation belongs. Everything else goes to the triage queue,
where a human classifies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from routing.text import words as _words
from settings.model import RuleConfig

# A routing rule is exactly the rule config.yaml declares: one shape from file to decision.
RoutingRule = RuleConfig


@dataclass(frozen=True)
class RoutingFacts:
    category: str
    confidence: float
    channel: str
    language: str
    text: str
    # Where the resident pointed: the mailbox's queue a mail arrived at, an IVR choice.
    queue_hint: str | None


@dataclass(frozen=True)
class RouteDecision:
    queue: str
    reason: str
    # The reason's facts (`why`, below), kept beside the English text so a console can say
    # them in its agent's language; two decisions are the same when queue and text are.
    why: Mapping[str, Any] = field(default_factory=dict, compare=False)


# Why a conversation was routed where it was, as plain data (it is stored in the `routed`
# event): {"rule": N, "conditions": [{"name": "category"|"channel"|"language"|"queue_hint"|
# "keyword", "value": ...}]} for a rule, plus {"low_confidence": {"confidence", "min"}} when it
# overrode a classification too unsure to route; only the latter for the triage queue;
# {"default_queue": true} when no rule held. `describe` writes it in the inbox's English.
Why = dict[str, Any]


def describe(why: Mapping[str, Any]) -> str:
    """The English reason text of `why`: what logs and older clients read."""
    low = why.get("low_confidence")
    low_text = f"low confidence {low['confidence']:.2f} < {low['min']:.2f}" if low else ""
    if "rule" not in why:
        return low_text or "default queue"
    parts = [f"keyword '{c['value']}'" if c["name"] == "keyword" else f"{c['name']}={c['value']}"
             for c in why["conditions"]]
    text = f"rule {why['rule']}: " + (", ".join(parts) or "matches everything")
    return f"{text} (overrides {low_text})" if low else text


@dataclass(frozen=True)
class _CompiledRule:
    number: int  # 1-based, as an operator counts the rules in config.yaml
    rule: RoutingRule
    keyword_pattern: re.Pattern[str] | None
    deterministic: bool

    def match(self, facts: RoutingFacts, folded_text: str | None) -> Why | None:
        """Why the rule holds (see `describe`) when every condition does, else None."""
        rule = self.rule
        parts: list[dict[str, str]] = []
        for name, wanted, actual in (
            ("queue_hint", rule.queue_hint, facts.queue_hint),
            ("category", rule.category, facts.category),
            ("channel", rule.channel, facts.channel),
            ("language", rule.language, facts.language),
        ):
            if wanted is None:
                continue
            if wanted != actual:
                return None
            parts.append({"name": name, "value": wanted})
        if self.keyword_pattern is not None:
            found = self.keyword_pattern.search(folded_text or "")
            if found is None:
                return None
            parts.append({"name": "keyword", "value": found.group(0)})
        return {"rule": self.number, "conditions": parts}


def _keyword_pattern(keywords: tuple[str, ...], number: int) -> re.Pattern[str] | None:
    if not keywords:
        return None
    phrases = []
    for keyword in keywords:
        phrase = _words(keyword)
        if not phrase:
            raise ValueError(f"rule {number}: keyword {keyword!r} has no letters or digits")
        phrases.append(phrase)
    # Longest first so that a phrase wins over a word it starts with, for the reason text.
    alternatives = "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
    # Folded text holds single spaces between words, so these guards mean whole words.
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


class RuleSet:
    """Rules compiled once (keyword patterns built ahead) so each decision is a cheap scan."""

    __slots__ = ("_has_keywords", "_rules")

    def __init__(self, rules: Sequence[RoutingRule]) -> None:
        self._rules = tuple(
            _CompiledRule(
                number=number,
                rule=rule,
                keyword_pattern=_keyword_pattern(rule.keywords, number),
                deterministic=rule.category is None
                and (rule.queue_hint is not None or bool(rule.keywords)),
            )
            for number, rule in enumerate(rules, start=1)
        )
        self._has_keywords = any(r.keyword_pattern is not None for r in self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def first_match(
        self, facts: RoutingFacts, *, deterministic_only: bool
    ) -> tuple[str, Why] | None:
        """(queue, why) of the first rule that holds, optionally only deterministic ones."""
        # Folding the text is the costly step; a rule set without keywords never needs it.
        folded_text = _words(facts.text) if self._has_keywords else None
        for compiled in self._rules:
            if deterministic_only and not compiled.deterministic:
                continue
            why = compiled.match(facts, folded_text)
            if why is not None:
                return compiled.rule.queue, why
        return None


@lru_cache(maxsize=16)
def _compiled(rules: tuple[RoutingRule, ...]) -> RuleSet:
    return RuleSet(rules)


def choose_queue(
    facts: RoutingFacts,
    rules: RuleSet | Sequence[RoutingRule],
    *,
    default_queue: str,
    triage_queue: str,
    min_confidence: float,
) -> RouteDecision:
    """The queue a conversation waits in, with the reason an operator can read in its events.

    Pass a RuleSet built once at start-up; a plain sequence of rules is compiled
    on first use and cached, for callers that hold only the config's rules.
    """
    rule_set = rules if isinstance(rules, RuleSet) else _compiled(tuple(rules))
    if facts.confidence < min_confidence:
        # Rounded as the text shows them, so the console's words and the log's agree.
        low = {"low_confidence": {"confidence": round(facts.confidence, 2),
                                  "min": round(min_confidence, 2)}}
        matched = rule_set.first_match(facts, deterministic_only=True)
        if matched is None:
            return _decision(triage_queue, low)
        queue, why = matched
        return _decision(queue, {**why, **low})
    matched = rule_set.first_match(facts, deterministic_only=False)
    if matched is None:
        return _decision(default_queue, {"default_queue": True})
    return _decision(*matched)


def _decision(queue: str, why: Why) -> RouteDecision:
    return RouteDecision(queue, describe(why), why)
