"""The intake's answer checks, one kind at a time."""

from datetime import date

import pytest

from inbox.guided_intake import validators

TODAY = date(2026, 12, 4)


@pytest.mark.parametrize("text, value", [
    ("5ZK2QJ7", "5ZK2QJ7"), ("5zk2qj7", "5ZK2QJ7"), (" 5ZK 2QJ7 ", "5ZK2QJ7"),
    ("5ZK2QJ", None), ("5ZK2QJ77", None), ("5ZK2QJ!", None), ("5ZƏ2QJ7", None)])
def test_fin_has_seven_latin_letters_and_digits(text, value):
    assert validators.fin(text) == value


@pytest.mark.parametrize("text, value", [
    ("AZE12345678", "AZE12345678"), ("aze 1234 5678", "AZE12345678"),
    ("AA1234567", "AA1234567"), ("AZE1234567", None), ("AA12345678", None),
    ("AB1234567", None), ("12345678", None)])
def test_id_card_is_aze_and_eight_digits_or_aa_and_seven(text, value):
    assert validators.id_card(text) == value


@pytest.mark.parametrize("text, value", [
    ("14.03.1987", "1987-03-14"), ("1/2/2001", "2001-02-01"), ("1987-03-14", "1987-03-14"),
    ("31.02.1990", None), ("05.12.2026", None), ("04.12.2026", None), ("03.12.2026", "2026-12-03"),
    ("14.03.1887", None), ("yesterday", None)])
def test_a_date_is_real_and_in_the_past(text, value):
    assert validators.past_date(text, TODAY) == value


@pytest.mark.parametrize("text, value", [
    ("Aynur Məmmədova", "Aynur Məmmədova"),
    ("  Rəşad   Əliyev  Fuad oğlu", "Rəşad Əliyev Fuad oğlu"),
    ("Иван Петров-Сидоров", "Иван Петров-Сидоров"), ("Aynur", None), ("Aynur 123", None)])
def test_a_full_name_is_two_words_of_letters(text, value):
    assert validators.name(text) == value


def test_a_choice_is_its_number_or_its_label():
    labels = ["Reinteqrasiya", "Vətəndaşlığa qəbul"]
    assert validators.choose("2", labels) == 1
    assert validators.choose("vətəndaşlığa QƏBUL", labels) == 1
    assert validators.choose("3", labels) is None
    assert validators.choose("0", labels) is None
    assert validators.choose("pension", labels) is None


def test_commands_are_whole_answers_and_operator_any_word_start():
    assert validators.says("Stop!", ["stop"])
    assert not validators.says("stop the car", ["stop"])
    assert validators.mentions("operator lazımdır", ["operator"])
    assert validators.mentions("Хочу поговорить с оператором", ["оператор"])
    assert not validators.mentions("Aynur Məmmədova", ["operator"])
