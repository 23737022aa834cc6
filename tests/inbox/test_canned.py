"""Canned responses' texts without servers: which variables a text may name, how braces are
checked, how a text is filled (once, values taken literally), and how the shipped defaults
and the admins' rows combine."""

from __future__ import annotations

import pytest

from inbox import canned
from inbox.actions import ActionError

CONTEXT = canned.Context(contact_name="Günel Əliyeva", agent_name="Leyla Məmmədova",
                         conversation_id=4217, queue_name="Bakı 1 saylı DOST mərkəzi",
                         queue_email="baku1@dost.example.gov.az")


def test_every_variable_is_filled():
    text = "{contact_name} · {agent_name} · {conversation_id} · {queue} · {queue_email}"
    assert canned.fill(text, CONTEXT, "az") == (
        "Günel Əliyeva · Leyla Məmmədova · 4217 · Bakı 1 saylı DOST mərkəzi · "
        "baku1@dost.example.gov.az")
    assert canned.variables_in(text) == list(canned.VARIABLES)


@pytest.mark.parametrize(("language", "fallback"), [("az", "vətəndaş"),
                                                    ("ru", "гражданин(ка)"), ("en", "resident")])
def test_an_unknown_name_reads_in_the_texts_language(language, fallback):
    nameless = canned.Context(contact_name=None, agent_name="Leyla", conversation_id=1,
                              queue_name="142", queue_email=None)
    assert canned.fill("{contact_name}:{queue_email}.", nameless, language) == f"{fallback}:."


def test_values_are_inserted_once_and_never_read_as_templates():
    sly = canned.Context(contact_name="{agent_name} {{x}} {0.__class__}", agent_name="Leyla",
                         conversation_id=7, queue_name="{queue}", queue_email=None)
    assert canned.fill("Salam, {contact_name}! {queue}", sly, "az") == \
        "Salam, {agent_name} {{x}} {0.__class__}! {queue}"


def test_doubled_braces_write_a_brace():
    assert canned.fill("{{FİN}} {{{conversation_id}}}", CONTEXT, "az") == "{FİN} {4217}"


@pytest.mark.parametrize(("text", "code", "values"), [
    ("Salam {name}", "canned_variable_unknown", {"variable": "name"}),
    ("Salam {Contact_Name}", "canned_variable_unknown", {"variable": "Contact_Name"}),
    ("{0.__class__}", "canned_variable_unknown", {"variable": "0.__class__"}),
    ("Salam {}", "canned_variable_unknown", {"variable": ""}),
    ("Salam {contact_name", "canned_braces_broken", {"position": 7}),
    ("Salam {contact_{queue}}", "canned_braces_broken", {"position": 7}),
    ("Salam }", "canned_braces_broken", {"position": 7}),
    ("{queue}}", "canned_braces_broken", {"position": 8}),
])
def test_broken_texts_are_refused_naming_what_is_wrong(text, code, values):
    with pytest.raises(ActionError) as caught:
        canned.parse(text)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert {k: caught.value.values[k] for k in values} == values


def test_the_shipped_defaults_name_only_known_variables():
    for default in canned.shipped().values():
        for text in default["body"].values():
            assert set(canned.variables_in(text)) <= set(canned.VARIABLES)


def _row(key, *, queue=None, deleted=False, body="Salam {contact_name}"):
    texts = {"az": body, "ru": body, "en": body}
    return {"key": key, "queue": queue, "title": texts, "body": texts, "deleted": deleted}


def test_rows_override_delete_and_add_to_the_defaults():
    keys = list(canned.shipped())
    rows = [_row(keys[0], body="Edited"), _row(keys[1], deleted=True),
            _row("dost-own", queue="dost-baku-1")]
    effective = canned.effective(rows)
    assert [r["key"] for r in effective] == [keys[0], *keys[2:], "dost-own"]
    assert effective[0]["body"]["az"] == "Edited" and effective[0]["modified"]
    assert effective[0]["tags"] == canned.shipped()[keys[0]]["tags"]
    assert effective[-1]["is_default"] is False
    assert [d["key"] for d in canned.deleted_defaults(rows)] == [keys[1]]


def test_an_agent_sees_global_responses_and_their_queues_only():
    responses = canned.effective([_row("dost-own", queue="dost-baku-1"),
                                  _row("mig-own", queue="migration-support")])
    seen = {r["key"] for r in canned.visible(responses, ["migration-support"])}
    assert "mig-own" in seen and "dost-own" not in seen and "greeting" in seen


def test_shipped_tags_are_words_even_when_yaml_reads_a_number():
    assert all(isinstance(tag, str) for d in canned.shipped().values() for tag in d["tags"])
    assert "142" in canned.shipped()["call-142"]["tags"]


@pytest.mark.parametrize(("language", "name"), [
    ("az", "1 saylı Bakı DOST Mərkəzi"), ("ru", "Бакинский центр DOST № 1"),
    ("en", "Baku DOST Centre No. 1")])
def test_the_queue_is_named_in_the_texts_language(language, name):
    named = canned.Context(
        contact_name="Günel", agent_name="Leyla", conversation_id=1,
        queue_name="1 saylı Bakı DOST Mərkəzi", queue_email=None,
        queue_names={"az": "1 saylı Bakı DOST Mərkəzi", "ru": "Бакинский центр DOST № 1",
                     "en": "Baku DOST Centre No. 1"})
    assert canned.fill("{queue}", named, language) == name
    # A queue the deployment no longer has: its id, in every language.
    gone = canned.Context(contact_name="Günel", agent_name="Leyla", conversation_id=1,
                          queue_name="dost-ganja", queue_email=None)
    assert canned.fill("{queue}", gone, language) == "dost-ganja"
