from routing.entities import Entity, find_entities, mask_text, mask_value


def test_azerbaijani_message_with_fin_phone_and_email() -> None:
    text = "Salam, FIN kodum 5ZJ7K2A, nömrəm 050 123 45 67, e-poçt Ali.Mammadov@Mail.az"
    assert find_entities(text) == (
        Entity("fin", "5ZJ7K2A", 17, 24),
        Entity("phone", "+994501234567", 33, 46),
        Entity("email", "ali.mammadov@mail.az", 55, 75),
    )


def test_russian_message_with_lower_case_fin_and_international_phone() -> None:
    text = "Мой ФИН 7ab3c4d, телефон +994 55 765 43 21"
    assert find_entities(text) == (
        Entity("fin", "7AB3C4D", 8, 15),
        Entity("phone", "+994557654321", 25, 42),
    )


def test_english_message_with_id_cards_of_both_series() -> None:
    text = "My ID card is AZE 12345678, my old one was aa-1234567."
    assert find_entities(text) == (
        Entity("id_card", "AZE12345678", 14, 26),
        Entity("id_card", "AA1234567", 43, 53),
    )


def test_id_card_with_wrong_digit_count_is_not_an_id_card() -> None:
    assert [e.kind for e in find_entities("AZE1234567 and AA12345678")] == []


def test_counts_with_glued_words_are_not_fins() -> None:
    assert find_entities("12mayda 1000AZN ödədim, COVID19 səbəbindən, mp3 fayl, salamlar") == ()


def test_digits_then_letters_fin_is_found_after_the_word_fin() -> None:
    assert find_entities("FIN: 62BCDAE") == (Entity("fin", "62BCDAE", 5, 12),)
    assert find_entities("62BCDAE") == ()


def test_ordinary_seven_letter_words_and_numbers_are_not_fins() -> None:
    assert find_entities("Pensiya müraciət 1234567 gününüz xeyir") == ()


def test_fin_inside_an_email_address_is_part_of_the_address() -> None:
    assert find_entities("write to ab12cde@mail.az") == (
        Entity("email", "ab12cde@mail.az", 9, 24),
    )


def test_phone_with_national_trunk_prefix_and_foreign_phone() -> None:
    entities = find_entities("zəng edin 055-123-45-67 və ya +44 20 7946 0958")
    assert [(e.kind, e.value) for e in entities] == [
        ("phone", "+994551234567"),
        ("phone", "+442079460958"),
    ]


def test_masked_forms() -> None:
    assert Entity("fin", "5ZJ7K2A", 0, 7).masked() == "5ZJ****"
    assert Entity("phone", "+994501234567", 0, 13).masked() == "+99450*****67"
    assert Entity("email", "ali.mammadov@mail.az", 0, 20).masked() == "a***@mail.az"
    assert Entity("id_card", "AZE12345678", 0, 11).masked() == "AZE******78"
    assert Entity("id_card", "AA1234567", 0, 9).masked() == "AA*****67"


def test_mask_text_replaces_every_entity_and_keeps_the_rest() -> None:
    text = "FIN 5ZJ7K2A, tel 050 123 45 67, a@b.az, AZE12345678"
    assert mask_text(text) == "FIN 5ZJ****, tel +99450*****67, a***@b.az, AZE******78"


def test_text_without_entities_is_unchanged() -> None:
    assert mask_text("Salam, pensiyam gecikir 😞") == "Salam, pensiyam gecikir 😞"
    assert mask_text("") == ""


def test_many_entities_in_a_long_paste_are_all_found() -> None:
    text = "5ZJ7K2A a@b.az " * 5_000
    assert len(find_entities(text)) == 10_000


def test_a_known_value_is_masked_as_a_text_would_mask_it() -> None:
    assert mask_value("phone", "+994501234567") == mask_text("+994501234567")
    assert mask_value("email", "leyla@mail.ru") == mask_text("leyla@mail.ru")


def test_a_known_value_is_masked_even_where_a_search_would_not_find_it() -> None:
    # A stored contact phone that no numbering plan knows, a mailbox on a local host: a
    # list must still show them partial.
    assert mask_text("+994001112233") == "+994001112233"
    assert mask_value("phone", "+994001112233") == "+99400*****33"
    assert mask_value("email", "leyla@localhost") == "l***@localhost"
