"""The intake's state machine, turn by turn, without any I/O."""

from datetime import date

import pytest

from inbox.guided_intake.engine import (
    COMPLETE,
    CONTINUE,
    HANDOVER,
    PAUSED,
    Answer,
    Setting,
    State,
    advance,
    remind,
    start,
)
from inbox.guided_intake.form import load_form, parse_form
from inbox.guided_intake.validators import KINDS
from settings import load_config
from tests.conftest import TEST_CONFIG


@pytest.fixture(scope="module")
def intake():
    return load_config(TEST_CONFIG).guided_intake


def setting(intake, language="az") -> Setting:
    return Setting(load_form(), intake, language, date(2026, 12, 4), reference=4211,
                   name="Aynur")


def run(s: Setting, *answers) -> tuple[State, list]:
    turn = start(s)
    turns = [turn]
    for answer in answers:
        turn = advance(s, turn.state, answer if isinstance(answer, Answer) else Answer(answer))
        turns.append(turn)
    return turn.state, turns


HAPPY = ["1", "Aynur Məmmədova", "5ZK2QJ7", "AZE12345678", "14.03.1987",
         "Bakı, Xətai r., Nobel pr. 15", "1", "1"]


def test_start_names_what_is_collected_and_asks_consent(intake):
    turn = start(setting(intake, "en"))
    assert turn.state.step == "consent"
    assert turn.says[0].text.startswith("Hello, Aynur!")
    assert "FIN" in turn.says[1].text and turn.says[1].choices == ("Yes, I agree",
                                                                  "No, let me talk to an operator")


def test_a_whole_dialogue_completes_with_every_answer(intake):
    s = setting(intake)
    state, turns = run(s, *HAPPY, Answer("", attachments=1, message_id=77), "hazırdır")
    assert turns[-1].outcome == COMPLETE
    assert "4211" in turns[-1].says[-1].text
    assert dict(state.answers) == {
        "consent": True, "full_name": "Aynur Məmmədova", "fin": "5ZK2QJ7",
        "id_card": "AZE12345678", "birth_date": "1987-03-14",
        "address": "Bakı, Xətai r., Nobel pr. 15", "service": "reintegration",
        "result_channel": "same", "documents": 1}
    assert state.documents == (77,)
    # The service asked with its catalogue's labels as buttons, the documents it needs listed.
    service_prompt = turns[6].says[-1]
    assert service_prompt.choices[0] == "Reinteqrasiya prosesinə qoşulma (ilkin qeydiyyat)"
    assert "Doğum haqqında şəhadətnamə" in turns[8].says[-1].text


def test_a_wrong_fin_is_corrected_politely_and_then_accepted(intake):
    s = setting(intake, "ru")
    state, turns = run(s, "да", "Иван Петров", "5ZK2QJ")
    assert turns[-1].outcome == CONTINUE and state.step == "fin" and state.attempts == 1
    assert turns[-1].says[0].text.startswith("ФИН состоит из 7 символов")
    turn = advance(s, state, Answer("5zk2qj7"))
    assert turn.state.step == "id_card" and turn.state.answers["fin"] == "5ZK2QJ7"
    assert turn.state.attempts == 0


def test_three_failures_at_one_step_hand_over_with_what_was_collected(intake):
    s = setting(intake, "en")
    state, turns = run(s, "yes", "John Smith", "123", "12345678", "ABCDEFGH")
    assert [t.outcome for t in turns[-3:]] == [CONTINUE, CONTINUE, HANDOVER]
    assert turns[-1].reason == "3 failed answers to fin"
    assert state.answers["full_name"] == "John Smith"


@pytest.mark.parametrize("words", ["operator lazımdır", "оператор", "I want a human please"])
def test_asking_for_a_person_hands_over_at_any_step(intake, words):
    state, turns = run(setting(intake), "bəli", "Aynur Məmmədova", words)
    assert turns[-1].outcome == HANDOVER
    assert turns[-1].reason == "the resident asked for an operator"
    assert state.answers["full_name"] == "Aynur Məmmədova"


def test_declining_consent_hands_over_with_nothing_kept(intake):
    state, turns = run(setting(intake), "2")
    assert turns[-1].outcome == HANDOVER and dict(state.answers) == {"consent": False}


def test_back_skip_and_required_steps(intake):
    s = setting(intake, "en")
    state, _turns = run(s, "yes", "John Smith", "back")
    assert state.step == "full_name"
    state = advance(s, state, Answer("John Smith")).state
    turn = advance(s, state, Answer("skip"))
    assert turn.state.step == "fin" and "cannot be skipped" in turn.says[0].text
    state, _turns = run(s, *HAPPY[:7], "skip")
    assert state.step == "documents" and state.answers["result_channel"] is None


def test_stop_pauses_and_the_next_message_resumes_at_the_same_step(intake):
    s = setting(intake, "en")
    state, turns = run(s, "yes", "John Smith", "stop")
    assert turns[-1].outcome == PAUSED and state.paused and state.step == "fin"
    turn = advance(s, state, Answer("hello again"))
    assert not turn.state.paused and turn.state.step == "fin"
    assert turn.says[-1].text.startswith("Please write your FIN")
    assert remind(s, turn.state)[-1].text.startswith("Please write your FIN")


def test_state_survives_its_json_form(intake):
    state, _ = run(setting(intake), *HAPPY[:4])
    assert State.from_json(state.as_json()) == state


def test_a_form_with_an_unknown_kind_or_a_missing_text_is_refused():
    with pytest.raises(ValueError, match=r"kind .nickname."):
        parse_form({"steps": [{"id": "consent", "kind": "consent"},
                              {"id": "nick", "kind": "nickname"}],
                    "commands": {c: ["x"] for c in ("human", "back", "skip", "stop", "done",
                                                    "yes", "no")},
                    "texts": {"consent": {"az": "a", "ru": "b", "en": "c"}}},
                   "form.yaml", KINDS)
