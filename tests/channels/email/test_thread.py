"""Our mail's thread marks: the Message-ID and the subject token a reply carries back."""

from channels.email import thread


def test_our_message_id_names_its_conversation_and_nobody_elses_does():
    ours = thread.message_id(1234, 98, "baku1@dost.example.gov.az")
    assert ours.startswith("<dost.1234.98.") and ours.endswith("@dost.example.gov.az>")
    assert thread.conversation_of_message_id(ours) == 1234
    assert thread.conversation_of_message_id(f"  {ours} ") == 1234
    assert thread.message_id(1234, 98, "baku1@dost.example.gov.az") != ours
    for other in ("<CAF=abc123@mail.gmail.com>", "<dost.x.1.ab@example.com>",
                  "<dost.12.3.ab@evil.example.com> <dost.1.2.ab@x>", "dost.12.3.ab@x", ""):
        assert thread.conversation_of_message_id(other) is None


def test_message_ids_in_references_keep_order_and_drop_repeats():
    header = ("<root@mail.ru>\r\n <dost.7.40.aa11@dost.example.gov.az>  <root@mail.ru>"
              " <reply-2@yandex.ru>")
    assert thread.message_ids(header) == ("<root@mail.ru>",
                                          "<dost.7.40.aa11@dost.example.gov.az>",
                                          "<reply-2@yandex.ru>")
    assert thread.message_ids(None) == ()
    assert thread.message_ids("not an id") == ()


def test_subject_token_round_trip_takes_the_last_token():
    assert thread.reference_in_subject("Re: Pensiya müraciəti [DOST-1234]") == 1234
    assert thread.reference_in_subject("RE: [dost-5] Fwd: [DOST-77] sənədlər") == 77
    assert thread.reference_in_subject("Pensiya müraciəti") is None
    assert thread.reference_in_subject(None) is None
    assert thread.reference_in_subject("[DOST-] [DOST-abc]") is None


def test_reply_subject_has_one_re_and_one_token():
    assert thread.reply_subject("Pensiya müraciəti", 12) == "Re: Pensiya müraciəti [DOST-12]"
    assert thread.reply_subject("RE: Re: Ответ: Пенсия [DOST-12]", 12) == \
        "Re: Пенсия [DOST-12]"
    assert thread.reply_subject("Fwd: AW: Cavab: sual", 3) == "Re: sual [DOST-3]"
    assert thread.reply_subject("", 9) == "Re: [DOST-9]"
    assert thread.reply_subject(None, 9) == "Re: [DOST-9]"
