"""Reading a kept mail (`inbox.kept_mail`): a file of its own, or its place in a pack; a place
that is not one, or bytes that are gone, is KeptMailGone, never another error."""

from __future__ import annotations

import pytest

from inbox.kept_mail import KeptMailGone, read_kept, span_of


def test_a_mail_is_read_whole_or_at_its_place_in_a_pack(tmp_path):
    first, second = b"From: a@mail.ru\r\n\r\nSalam\r\n", b"From: b@mail.ru\r\n\r\nPrivet\r\n"
    (tmp_path / "one.eml").write_bytes(first)
    (tmp_path / "pack.mails").write_bytes(first + second)
    assert read_kept(tmp_path / "one.eml", span_of({"raw": "one.eml"})) == first
    span = span_of({"raw": "pack.mails", "raw_span": [len(first), len(second)]})
    assert read_kept(tmp_path / "pack.mails", span) == second
    assert read_kept(tmp_path / "pack.mails", (0, len(first))) == first


@pytest.mark.parametrize("span", [[1], [0, 0], [-1, 5], ["0", "5"], [0.0, 5], [True, 5], "0-5",
                                  {"offset": 0}])
def test_a_place_that_is_not_an_offset_and_a_length_is_refused(span):
    with pytest.raises(KeptMailGone):
        span_of({"raw": "pack.mails", "raw_span": span})


def test_missing_or_short_bytes_are_gone(tmp_path):
    (tmp_path / "pack.mails").write_bytes(b"x" * 100)
    with pytest.raises(KeptMailGone):
        read_kept(tmp_path / "pack.mails", (90, 20))
    with pytest.raises(KeptMailGone):
        read_kept(tmp_path / "pack.mails", (200, 5))
    with pytest.raises(KeptMailGone):
        read_kept(tmp_path / "missing.eml", None)
    with pytest.raises(KeptMailGone):
        read_kept(tmp_path, None)     # a directory
