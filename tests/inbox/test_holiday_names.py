"""Public holidays named for a Russian reader, whom the `holidays` library does not write
for: every name it gives Azerbaijan's days in the years an admin looks at, part by part."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from inbox.deployment_view import deployment_view
from inbox.holiday_names import catalogue, named
from routing.sla import BusinessCalendar
from settings import load_config
from tests.conftest import TEST_CONFIG


@pytest.mark.parametrize(("english", "russian"), [
    ("Victory Day", "День Победы"),
    ("Victory Day (observed)", "День Победы (перенесённый)"),
    ("Eid al-Adha; Independence Day", "Гурбан байрамы; День независимости"),
    ("Eid al-Fitr (observed, estimated)", "Рамазан байрамы (перенесённый, предположительно)"),
    ("Day off (substituted from 01/07/2024)", "Выходной день (перенесён с 01/07/2024)"),
    # A name the catalogue does not know stays as the library wrote it, never blank.
    ("Constitution Referendum Day", "Constitution Referendum Day"),
    ("Victory Day (moved by decree)", "Victory Day (moved by decree)"),
])
def test_a_name_is_read_part_by_part(english, russian):
    assert named(english, "ru") == russian


def test_every_day_the_library_names_in_these_years_has_a_russian_name():
    for year in range(2024, 2032):
        for day, english in holidays.country_holidays("AZ", years=year,
                                                      language="en_US").items():
            russian = named(english, "ru")
            assert not any(c.isascii() and c.isalpha() for c in russian), (day, english)


def test_the_catalogue_is_whole_in_every_language():
    names = catalogue()
    assert set(names) == {"az", "ru", "en"}
    assert names["en"]["Victory Day"] == "Victory Day"
    assert names["ru"].keys() == names["az"].keys() == names["en"].keys()


def test_the_admin_screen_names_the_holidays_in_russian():
    config = load_config(TEST_CONFIG, env={})
    calendar = BusinessCalendar(holidays="AZ")
    view = deployment_view(config, calendar, "ru", date(2026, 12, 4))
    by_date = {h["date"]: h["name"] for h in view["public_holidays"]}
    assert by_date["2026-11-08"] == "День Победы"
    assert by_date["2027-01-01"] == "Новый год"
    english = deployment_view(config, calendar, "en", date(2026, 12, 4))
    assert {h["date"]: h["name"] for h in english["public_holidays"]}["2026-11-08"] \
        == "Victory Day"
