import pytest

from routing.rules import (
    RouteDecision,
    RoutingFacts,
    RoutingRule,
    RuleSet,
    choose_queue,
    describe,
)

RULES = (
    RoutingRule(queue="dost-baku-1", queue_hint="dost-baku-1"),
    RoutingRule(queue="migration-registration", category="registration"),
    RoutingRule(queue="migration-citizenship", keywords=("vətəndaşlıq", "гражданство")),
    RoutingRule(queue="dost-pensions", category="inquiry", keywords=("pensiya",)),
    RoutingRule(queue="call-centre-142", channel="voice", language="ru"),
    RoutingRule(queue="disability", keywords=("əlillik dərəcəsi",)),
)
RULE_SET = RuleSet(RULES)


def facts(
    text: str = "salam",
    *,
    category: str = "inquiry",
    confidence: float = 0.9,
    channel: str = "sms",
    language: str = "az",
    queue_hint: str | None = None,
) -> RoutingFacts:
    return RoutingFacts(category, confidence, channel, language, text, queue_hint)


def route(f: RoutingFacts, rules: RuleSet | tuple[RoutingRule, ...] = RULE_SET) -> RouteDecision:
    return choose_queue(
        f, rules, default_queue="call-centre-142", triage_queue="triage", min_confidence=0.6
    )


def test_queue_hint_rule_wins_first():
    decision = route(facts(category="registration", queue_hint="dost-baku-1"))
    assert decision == RouteDecision("dost-baku-1", "rule 1: queue_hint=dost-baku-1")


def test_category_rule():
    decision = route(facts(category="registration"))
    assert decision == RouteDecision("migration-registration", "rule 2: category=registration")


@pytest.mark.parametrize(
    "text",
    [
        "Vətəndaşlıq almaq istəyirəm",
        "vetendasliq almaq isteyirem",  # typed on a phone without Azerbaijani letters
        "VƏTƏNDAŞLIQ!!!",
        "VETENDASLİQ haqqında",  # dotted capital İ must fold to a plain i
        "Хочу получить ГРАЖДАНСТВО.",
    ],
)
def test_keywords_ignore_case_and_diacritics(text):
    decision = route(facts(text))
    assert decision.queue == "migration-citizenship"
    assert decision.reason.startswith("rule 3: keyword ")


def test_keyword_must_be_a_whole_word():
    # "pensiyaçı" contains "pensiya" but is another word; no rule matches.
    assert route(facts("pensiyaçılar üçün")) == RouteDecision("call-centre-142", "default queue")


def test_phrase_matches_across_punctuation_and_line_breaks():
    decision = route(facts("Əlillik,\n  dərəcəsi barədə"))
    assert decision == RouteDecision("disability", "rule 6: keyword 'elillik derecesi'")


def test_phrase_needs_all_its_words_in_order():
    assert route(facts("dərəcəsi əlillik")).queue == "call-centre-142"


def test_all_conditions_of_a_rule_must_hold():
    # Rule 4 needs category=inquiry AND the keyword.
    assert route(facts("pensiya", category="support")).queue == "call-centre-142"
    assert route(facts("pensiya", category="inquiry")) == RouteDecision(
        "dost-pensions", "rule 4: category=inquiry, keyword 'pensiya'"
    )
    assert route(facts(channel="voice", language="az")).queue == "call-centre-142"
    assert route(facts(channel="voice", language="ru")) == RouteDecision(
        "call-centre-142", "rule 5: channel=voice, language=ru"
    )


def test_no_match_goes_to_default_queue():
    assert route(facts("salam", category="support")) == RouteDecision(
        "call-centre-142", "default queue"
    )


def test_low_confidence_goes_to_triage():
    decision = route(facts(category="registration", confidence=0.41))
    assert decision == RouteDecision("triage", "low confidence 0.41 < 0.60")


def test_low_confidence_keeps_deterministic_evidence():
    decision = route(facts("vətəndaşlıq", category="registration", confidence=0.41))
    assert decision == RouteDecision(
        "migration-citizenship",
        "rule 3: keyword 'vetendasliq' (overrides low confidence 0.41 < 0.60)",
    )
    decision = route(facts(confidence=0.1, queue_hint="dost-baku-1"))
    assert decision.queue == "dost-baku-1"


def test_low_confidence_ignores_keyword_rules_that_also_need_the_category():
    assert route(facts("pensiya", category="inquiry", confidence=0.3)).queue == "triage"


def test_confidence_equal_to_threshold_is_trusted():
    assert route(facts(category="registration", confidence=0.6)).queue == "migration-registration"


def test_plain_sequence_of_rules_gives_the_same_decision():
    f = facts("Əlillik dərəcəsi")
    assert route(f, RULES) == route(f, RULE_SET)


def test_rule_without_conditions_matches_everything_but_is_not_evidence():
    rules = (RoutingRule(queue="everything"),)
    assert route(facts(), rules) == RouteDecision("everything", "rule 1: matches everything")
    assert route(facts(confidence=0.2), rules).queue == "triage"


def test_keyword_without_letters_is_rejected_at_compile_time():
    with pytest.raises(ValueError, match=r"rule 1: keyword '\?\!'"):
        RuleSet([RoutingRule(queue="q", keywords=("?!",))])


def test_longer_phrase_is_reported_over_a_word_it_starts_with():
    rules = RuleSet([RoutingRule(queue="q", keywords=("pensiya", "pensiya kartı"))])
    assert route(facts("Pensiya kartı itib"), rules).reason == "rule 1: keyword 'pensiya karti'"


@pytest.mark.parametrize(
    ("text", "queue"),
    [
        ("Ad dəyişikliyi üçün müraciət", "names"),
        ("Soyad dəyişikliyi üçün müraciət", "call-centre-142"),  # "soyad" is another word
        ("ad dəyişikliyində", "call-centre-142"),  # and so is the inflected form
    ],
)
def test_phrase_boundaries_on_both_sides(text, queue):
    rules = RuleSet([RoutingRule(queue="names", keywords=("ad dəyişikliyi",))])
    assert route(facts(text), rules).queue == queue


def test_the_reason_comes_with_its_facts_for_a_console_to_say_in_its_language():
    """The English text is written from the same facts the event keeps (`why`), so the two
    never tell different stories."""
    decision = route(facts("Pensiya kartım itib", category="inquiry"))
    assert decision.why == {"rule": 4, "conditions": [{"name": "category", "value": "inquiry"},
                                                      {"name": "keyword", "value": "pensiya"}]}
    assert decision.reason == describe(decision.why) \
        == "rule 4: category=inquiry, keyword 'pensiya'"
    decision = route(facts("vətəndaşlıq", category="registration", confidence=0.41))
    assert decision.why == {"rule": 3, "conditions": [{"name": "keyword", "value": "vetendasliq"}],
                            "low_confidence": {"confidence": 0.41, "min": 0.6}}
    assert route(facts(category="registration", confidence=0.41)).why == {
        "low_confidence": {"confidence": 0.41, "min": 0.6}}
    assert route(facts(category="support")).why == {"default_queue": True}
    assert route(facts(), (RoutingRule(queue="everything"),)).why == {"rule": 1, "conditions": []}
