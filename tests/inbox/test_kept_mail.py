"""Where a kept mail is and reading it (`inbox.kept_mail`): a file of its own, or its place
in a pack; a place that is not one, or bytes that are gone, is KeptMailGone, never another
error."""

from __future__ import annotations

import pytest

from inbox.kept_mail import KeptMailGone, kept_facts, place_of, read_kept


def test_a_mail_is_read_whole_or_at_its_place_in_a_pack(tmp_path):
    first, second = b"From: a@mail.ru\r\n\r\nSalam\r\n", b"From: b@mail.ru\r\n\r\nPrivet\r\n"
    (tmp_path / "one.eml").write_bytes(first)
    (tmp_path / "pack.mails").write_bytes(first + second)
    alone = kept_facts("one.eml", None)
    assert alone == {"raw": "one.eml"} and place_of(alone) == ("one.eml", None)
    assert read_kept(tmp_path / "one.eml", None) == first
    packed = kept_facts("pack.mails", (len(first), len(second)))
    # Never under "raw", which an earlier version would serve whole.
    assert "raw" not in packed
    assert place_of(packed) == ("pack.mails", (len(first), len(second)))
    assert read_kept(tmp_path / "pack.mails", place_of(packed)[1]) == second
    assert read_kept(tmp_path / "pack.mails", (0, len(first))) == first
    assert place_of({"subject": "Pensiya"}) is None
    assert place_of({"raw": ""}) is None


@pytest.mark.parametrize("span", [None, [1], [0, 0], [-1, 5], ["0", "5"], [0.0, 5], [True, 5],
                                  "0-5", {"offset": 0}, (0, 5)])
def test_a_pack_without_an_offset_and_a_length_is_refused(span):
    with pytest.raises(KeptMailGone):
        place_of({"raw_pack": "pack.mails", "raw_span": span})


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
