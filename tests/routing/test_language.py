import pytest

from routing.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Salam, qeydiyyatdan keçmək istəyirəm", "az"),
        ("Salam, qeydiyyatdan kecmek isteyirem", "az"),
        ("SALAM MENE KOMEK EDIN", "az"),
        ("pensiyam 3 aydir odenilmir", "az"),
        ("Здравствуйте, как подать заявление на гражданство?", "ru"),
        ("Салам, мән гејдијјатдан кечмәк истәјирәм", "az"),
        ("Hello, how do I apply for a residence permit?", "en"),
        ("Hello, my name is Əli Məmmədov and I need help with my pension", "en"),
        ("Salam, I have a problem with my pension", "en"),
        ("Salam! Мне нужна помощь с пенсией", "ru"),
    ],
)
def test_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "OK", "12345", "😀👍", "5ZJ7K2A"])
def test_no_evidence_falls_back_to_default(text: str) -> None:
    assert detect_language(text, "ru") == "ru"
    assert detect_language(text, "en") == "en"
