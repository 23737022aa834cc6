import pytest

from routing.evaluate import GroupScore, Outcome, TriageRow, evaluate, report, triage_row
from routing.model import Example

# (label, prediction, language); the expected figures below are worked out by hand.
_CASES = [
    ("inquiry", "inquiry", "az"),
    ("inquiry", "inquiry", "ru"),
    ("inquiry", "support", "en"),
    ("registration", "registration", "az"),
    ("registration", "inquiry", "az"),
    ("support", "support", "ru"),
    ("support", "support", "en"),
    ("support", "registration", "az"),
]


def _report():
    examples = [Example(f"message {i}", label, lang) for i, (label, _, lang) in enumerate(_CASES)]
    predictions = {f"message {i}": predicted for i, (_, predicted, _) in enumerate(_CASES)}
    return evaluate(examples, predictions.__getitem__)


def test_confusion_and_accuracy() -> None:
    report = _report()
    assert report.confusion == ((2, 0, 1), (1, 1, 0), (0, 1, 2))
    assert report.total == 8
    assert report.accuracy == 5 / 8


def test_per_class_scores_and_macro_f1() -> None:
    scores = {s.label: s for s in _report().classes}
    assert scores["inquiry"].precision == pytest.approx(2 / 3)
    assert scores["inquiry"].recall == pytest.approx(2 / 3)
    assert scores["registration"].precision == pytest.approx(1 / 2)
    assert scores["registration"].f1 == pytest.approx(1 / 2)
    assert scores["support"].recall == pytest.approx(2 / 3)
    assert scores["support"].support == 3
    assert _report().macro_f1 == pytest.approx(11 / 18)


def test_accuracy_per_language() -> None:
    # az: inquiry 1/1, registration 1/2 (one read as inquiry), support 0/1 (read as
    # registration): F1 inquiry 2/3, registration 1/2, support 0.
    assert _report().languages == (
        GroupScore("az", 2, 4, pytest.approx((2 / 3 + 1 / 2 + 0) / 3)),
        GroupScore("en", 1, 2, pytest.approx((0 + 2 / 3) / 2)),
        GroupScore("ru", 2, 2, 1.0),
    )


def test_class_never_predicted_scores_zero_not_division_error() -> None:
    report = evaluate([Example("a", "support"), Example("b", "inquiry")], lambda _: "inquiry")
    support = next(s for s in report.classes if s.label == "support")
    registration = next(s for s in report.classes if s.label == "registration")
    assert (support.precision, support.recall, support.f1) == (0.0, 0.0, 0.0)
    assert registration.support == 0
    assert report.macro_f1 == pytest.approx((2 / 3) / 3)


def test_prediction_outside_the_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="'spam'"):
        evaluate([Example("a", "support")], lambda _: "spam")


def test_format() -> None:
    assert _report().format() == "\n".join(
        [
            "examples 8  accuracy 0.625  macro-F1 0.611",
            "",
            "class         precision  recall     f1  support",
            "inquiry           0.667   0.667  0.667        3",
            "registration      0.500   0.500  0.500        2",
            "support           0.667   0.667  0.667        3",
            "",
            "confusion (rows: label, columns: predicted)",
            "                     inquiry  registration       support",
            "inquiry                    2             0             1",
            "registration               1             1             0",
            "support                    0             1             2",
            "",
            "per language   accuracy  macro-F1",
            "az                0.500     0.389  (2/4)",
            "en                0.500     0.333  (1/2)",
            "ru                1.000     1.000  (2/2)",
        ]
    )


def _outcomes():
    # (label, predicted, confidence, channel, misleading)
    cases = [
        ("inquiry", "inquiry", 0.95, "sms", False),
        ("inquiry", "support", 0.55, "email", True),
        ("registration", "registration", 0.9, "voice", False),
        ("registration", "inquiry", 0.7, "voice", True),
        ("support", "support", 0.5, "sms", False),
    ]
    return [Outcome(Example(f"m{i}", label, "az", f"s{i}", channel, misleading), predicted, p)
            for i, (label, predicted, p, channel, misleading) in enumerate(cases)]


def test_triage_trade_off_counts_messages_and_mistakes_below_each_threshold() -> None:
    # Below 0.6: the support mistake (0.55) and a right answer (0.5); the 0.7 mistake passes.
    assert triage_row(_outcomes(), 0.6) == TriageRow(0.6, 2 / 5, 1 / 2, 2 / 3)
    assert triage_row(_outcomes(), 0.4) == TriageRow(0.4, 0.0, 0.0, 3 / 5)


def test_report_groups_by_channel_and_misleading_case() -> None:
    result = report(_outcomes(), thresholds=(0.6,))
    assert [(g.name, g.correct, g.total) for g in result.channels] == [
        ("email", 0, 1), ("sms", 2, 2), ("voice", 1, 2)]
    assert [(g.name, g.correct, g.total) for g in result.kinds] == [
        ("misleading", 0, 2), ("plain", 3, 3)]
    assert result.triage_at(0.6) == triage_row(_outcomes(), 0.6)
    assert result.format().endswith("      0.60      40.0%            50.0%            0.667")
