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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


@dataclass(frozen=True)
class _CompiledRule:
    number: int  # 1-based, as an operator counts the rules in config.yaml
    rule: RoutingRule
    keyword_pattern: re.Pattern[str] | None
    deterministic: bool

    def match(self, facts: RoutingFacts, folded_text: str | None) -> str | None:
        """The reason text when every condition holds, else None."""
        rule = self.rule
        parts: list[str] = []
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
            parts.append(f"{name}={wanted}")
        if self.keyword_pattern is not None:
            found = self.keyword_pattern.search(folded_text or "")
            if found is None:
                return None
            parts.append(f"keyword '{found.group(0)}'")
        return f"rule {self.number}: " + (", ".join(parts) or "matches everything")


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
    ) -> tuple[str, str] | None:
        """(queue, reason) of the first rule that holds, optionally only deterministic ones."""
        # Folding the text is the costly step; a rule set without keywords never needs it.
        folded_text = _words(facts.text) if self._has_keywords else None
        for compiled in self._rules:
            if deterministic_only and not compiled.deterministic:
                continue
            reason = compiled.match(facts, folded_text)
            if reason is not None:
                return compiled.rule.queue, reason
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
        low = f"low confidence {facts.confidence:.2f} < {min_confidence:.2f}"
        matched = rule_set.first_match(facts, deterministic_only=True)
        if matched is None:
            return RouteDecision(triage_queue, low)
        queue, reason = matched
        return RouteDecision(queue, f"{reason} (overrides {low})")
    matched = rule_set.first_match(facts, deterministic_only=False)
    if matched is None:
        return RouteDecision(default_queue, "default queue")
    return RouteDecision(*matched)
