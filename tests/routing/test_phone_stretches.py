"""Phone numbers are looked for only in the stretches of text where one can be: the
numbers found must be exactly those of phonenumbers' matcher run over the whole text,
since they decide what privacy masking hides."""

import random
import re

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata

from routing import entities
from routing.entities import Entity, find_entities
from routing.model import HELDOUT_DIR, TRAIN_DIR, corpus_files, read_examples

# A run of digits and the separators numbers are written with.
PHONE_RUN = re.compile(r"\d(?:[\d\s().\-/\u2010-\u2015]*\d)?")


def whole_text_phones(text: str) -> list[Entity]:
    """The matcher over the whole text, behind the seven-digit gate: some run of digits and
    separators holding seven digits."""
    if not any(entities._digits_in(run.group()) >= entities._MIN_PHONE_DIGITS
               for run in PHONE_RUN.finditer(text)):
        return []
    return [
        Entity("phone",
               phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
               match.start, match.end)
        for match in phonenumbers.PhoneNumberMatcher(text, "AZ")
    ]


EDGE_CASES = [
    "050 123 45 67",
    "Tel: +994 50 123 45 67, FIN 5ZJ7K2A",
    "tel:+994501234567",
    "994 50 123 45 67 zəng edin",
    "994501234567",
    "(050) 123-45-67",
    "(+994) 50-123-45-67",
    "+994 (12) 498 21 34",
    "012 498 21 34 / 050 123 45 67",
    "050-123-45-67/68",
    "nömrəm050 123 45 67",
    "050 123 45 67dir",
    "050 123 45 67ə",
    "ə050 123 45 67",
    "Я050 123 45 67",
    "тел.050 123 45 67",
    "тел:+994551234567, доб. 123",
    "+994 12 498 21 34 ext. 12",
    "+994 12 498 21 34 ext12",
    "+994 12 498 21 34 x 12",
    "+994 12 498 21 34 доб 5",
    "+994 12 498 21 34 #12",
    "+994 12 498 21 34 anexo 7",
    "+994 12 498 21 34;ext=5",
    "050 123 45 67\n055 765 43 21\r\n+44 20 7946 0958",
    "050 123 45 67:30",
    "050 123 45 67 :30",
    "2024-05-01 12:30 zəng etdim 050 123 45 67",
    "12/05/2024 050 123 45 67",
    "14.07.1991 tarixində",
    "FIN 5ZJ7K2A, ş/v AZE12345678, AA1234567",
    "AZE 12345678 və AA-1234567",
    "5ZJ7K2A1234567",
    "ID1234567890",
    "1234567",
    "12345678901234567890123456789",
    "0" * 40,
    "050 123 45 67 " * 30,
    "$050 123 45 67",
    "050 123 45 67%",
    "+43 1234 və 1234567",
    "+683 4002, referans 7654321",
    "+7 495 123-45-67 и 8 (495) 123-45-67",
    "+1 (202) 555-0143 ext 9",
    "+994 50 123 45 67ıİ",
    "İ+994 50 123 45 67",
    "０５０ １２３ ４５ ６７",
    "+９９４ ５０ １２３ ４５ ６７",
    "٠٥٠١٢٣٤٥٦٧",
    "050\u00a0123\u00a045\u00a067",
    "050\u2013123\u201345\u201367",
    "050\u2011123\u201145\u201167",
    "050 123 45 67—zəng",
    "pages 12-34 (2019) 5551234",
    "Sent: 07.03.2025\nFrom: +994 50 123 45 67",
    "tel\t+994 50 123 45 67\tx\t5",
    "050 123 45 67, ext 5 and 055 765 43 21",
]

FRAGMENTS = [
    "050 123 45 67", "+994 50 123 45 67", "994 55 765 43 21", "(012) 498-21-34",
    "+44 20 7946 0958", "+43 1234", "5ZJ7K2A", "AZE12345678", "AA1234567", "14.07.1991",
    "12/05/2024", "12:30", ":45", "1234567", "98765432109876", "ext", "доб", "x", "#", ";ext=",
    "(", ")", "+", "-", "/", ".", ",", " ", "  ", "\n", "\t", "\u00a0", "\u2013", "ə", "İ",
    "ı", "salam", "nömrə", "тел", "Tel:", "zəng", "a", "e", "о", "$", "%", "０５０", "1", "12",
]


def random_texts(count: int, seed: int) -> list[str]:
    generator = random.Random(seed)
    return ["".join(generator.choice(FRAGMENTS) for _ in range(generator.randint(1, 14)))
            for _ in range(count)]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_find_what_the_whole_text_matcher_finds(text: str) -> None:
    assert entities._phones(text) == whole_text_phones(text)


def test_random_mixtures_find_what_the_whole_text_matcher_finds() -> None:
    texts = random_texts(4_000, seed=20261204)
    assert sum(bool(whole_text_phones(text)) for text in texts) > 1_000
    for text in texts:
        assert entities._phones(text) == whole_text_phones(text), text


def test_corpus_messages_find_what_the_whole_text_matcher_finds() -> None:
    texts = [example.text
             for example in read_examples(corpus_files(TRAIN_DIR) + corpus_files(HELDOUT_DIR))]
    assert sum(bool(whole_text_phones(text)) for text in texts) > 100
    for text in texts:
        assert entities._phones(text) == whole_text_phones(text), text


def test_a_text_too_long_to_cut_is_read_whole() -> None:
    text = "zəng 050 123 45 67, FIN 5ZJ7K2A; " * 2_100
    assert len(text) > entities._MATCHER_MAX_TRIES
    assert entities._phones(text) == whole_text_phones(text)
    assert len([e for e in find_entities(text) if e.kind == "phone"]) == 2_100


def test_no_valid_number_has_fewer_digits_than_a_stretch_needs() -> None:
    """The shortest valid numbers: country code plus the shortest national number of
    any region, as the installed metadata says."""
    lengths = []
    regions = [(PhoneMetadata.metadata_for_region(region), region)
               for region in phonenumbers.SUPPORTED_REGIONS]
    regions += [(PhoneMetadata.metadata_for_nongeo_region(code), str(code))
                for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS]
    for metadata, region in regions:
        possible = [length for length in metadata.general_desc.possible_length if length > 0]
        assert possible, region
        lengths.append(len(str(metadata.country_code)) + min(possible))
    assert min(lengths) >= entities._MIN_VALID_PHONE_DIGITS


def test_separators_are_never_inside_a_candidate() -> None:
    separators = entities._stretch_separators()
    assert "\n" in separators and "l" in separators and "ə" in separators
    assert not set("extnsioaдоб:+()-.,#~ ") & set(separators.lower())
    for text in random_texts(2_000, seed=7):
        for candidate in entities._CANDIDATE_PATTERN.finditer(text):
            assert not set(candidate.group()) & set(separators), text


def test_a_stretch_met_again_is_placed_where_it_now_stands() -> None:
    first, again = "Tel: 050 123 45 67", "Salam, yenə mən. Tel: 050 123 45 67"
    assert entities._phones(first) == whole_text_phones(first)
    assert entities._phones(again) == whole_text_phones(again)
    assert entities._phones(again)[0].start == 22
