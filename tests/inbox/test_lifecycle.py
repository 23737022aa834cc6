"""A conversation's lifecycle as plain rules: which event records a chosen status, and how
taking up or letting go of a conversation moves it."""

import pytest

from inbox.events import EventType
from inbox.lifecycle import returned, status_event, taken


@pytest.mark.parametrize(("previous", "status", "event"), [
    ("open", "resolved", EventType.RESOLVED),
    ("pending", "resolved", EventType.RESOLVED),
    ("resolved", "open", EventType.REOPENED),
    ("resolved", "pending", EventType.REOPENED),
    ("open", "pending", EventType.STATUS_CHANGED),
    ("waiting", "open", EventType.STATUS_CHANGED),
])
def test_a_chosen_status_is_recorded_by_its_event(previous, status, event):
    assert status_event(previous, status) == event


@pytest.mark.parametrize(("status", "after_taken", "after_returned"), [
    ("waiting", {"status": "open"}, {"status": "waiting"}),
    ("open", {}, {"status": "waiting"}),
    ("pending", {}, {"status": "waiting"}),
    ("resolved", {}, {}),    # a resolved conversation stays resolved either way
])
def test_taking_up_and_letting_go(status, after_taken, after_returned):
    assert taken({"status": status}) == after_taken
    assert returned({"status": status}) == after_returned
