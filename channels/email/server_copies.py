"""Erased residents' mails deleted from the mailboxes' servers.

An erasure empties the stored message and zeroes the raw mail kept beside the media, but the
mail itself is still on the centre's IMAP server, in the folder the poll read it from, the
one it moved it to, or any other someone at the centre filed a copy in: with the FIN, the
scanned ID card, everything the resident sent. The erasure lists each of the resident's
mails (`inbox.erasure`, the channel's traits say how), and the worker's job deletes them
from every folder of the mailbox's account (`channels.provider_records`).

A server keeps a mail under a UID of its own that no message keeps (and that a mail moved to
another folder changes), so a mail is found again by its Message-ID, the erasure's locator,
or by its sender's address when it came without one (a few of the sender's mails are read
to find it). Either is the sender's word, and senders reuse Message-IDs: only a mail whose
bytes hash to the message's external id is deleted, never another resident's mail under the
same id. The locator is kept only until the mail is deleted.

A mail found nowhere counts as gone: someone at the centre deleted it, or the folder was
emptied. A mailbox that cannot be reached (down, a wrong password, gone from the config)
leaves its mails to be tried again (`inbox.provider_erasures`).
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from imap_tools.mailbox import BaseMailBox

from channels.email import imap
from channels.email.inbound import digest
from inbox.context import InboxContext
from settings import Mailbox

log = logging.getLogger(__name__)

# An inbound mail's external id ("{mailbox}:{sha256 of its bytes}", `inbound.external_id`);
# a sent mail's is our Message-ID, and no copy of it is on the mailbox's server.
_INBOUND_ID = re.compile(r"(?P<mailbox>.+):(?P<digest>[0-9a-f]{64})")
# A Message-ID, or an address, that can be searched for as an IMAP quoted string as it
# stands: printable ASCII without a quote or a backslash.
_SEARCHABLE_ID = re.compile(r"<[!#-\[\]-~]{1,250}@[!#-\[\]-~]{1,250}>")
_SEARCHABLE_ADDRESS = re.compile(r"[!#-\[\]-~]{1,250}@[!#-\[\]-~]{1,250}")
# Mails read at a time to tell the erased ones from others found by the same search.
FETCH_AT_ONCE = 20
# A locator naming the sender (a mail without a Message-ID) rather than the mail.
SENDER = "from:"


def locator(external_id: str, extra: Mapping[str, Any]) -> str | None:
    """An erased message's locator on its mailbox's server, for an inbound mail: its
    Message-ID, else (none, or one that cannot be searched for) "from:" and its sender's
    address; None for anything else, or when neither can be searched for."""
    if _INBOUND_ID.fullmatch(external_id) is None:
        return None
    email = extra.get("email") or {}
    message_id, sender = email.get("message_id"), email.get("from")
    if isinstance(message_id, str) and _SEARCHABLE_ID.fullmatch(message_id):
        return message_id
    if isinstance(sender, str) and _SEARCHABLE_ADDRESS.fullmatch(sender):
        return f"{SENDER}{sender}"
    return None


async def forget(ctx: InboxContext, records: Mapping[str, str | None]) -> dict[str, str | None]:
    """Delete these mails (external id: locator) from their mailboxes' servers: by external
    id, None once gone (deleted now, or found nowhere), else why not."""
    mailboxes = {m.id: m for m in (ctx.config.channels.email.mailboxes
                                   if ctx.config.channels.email else ())}
    by_mailbox: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    outcome: dict[str, str | None] = {}
    for external_id, found_by in records.items():
        found = _INBOUND_ID.fullmatch(external_id)
        if found is None or not found_by:
            outcome[external_id] = "not a mail that can be found on its server"
            continue
        by_mailbox[found["mailbox"]][external_id] = (found_by, found["digest"])
    for mailbox_id, wanted in by_mailbox.items():
        mailbox = mailboxes.get(mailbox_id)
        if mailbox is None:
            outcome.update(dict.fromkeys(wanted, f"mailbox {mailbox_id} is not configured"))
            continue
        try:
            deleted = await asyncio.to_thread(_delete_from, mailbox, wanted)
        except Exception as exc:    # down, refused, a TLS error: all of it again later
            log.warning("mailbox %s: could not delete %d erased mail(s) (%s)", mailbox.id,
                        len(wanted), type(exc).__name__)
            outcome.update(dict.fromkeys(wanted, type(exc).__name__))
            continue
        outcome.update(dict.fromkeys(wanted))
        log.info("mailbox %s: deleted %d erased mail(s) of %d listed", mailbox.id, deleted,
                 len(wanted))
    return outcome


def folders_of(client: BaseMailBox) -> list[str]:
    """Every folder of the account that holds mail: the poll's, its `move_to`, and any other
    a copy may have been filed in (a copy keeps the mail's bytes, so the hash finds it)."""
    return [folder.name for folder in client.folder.list()
            if not {"\\NOSELECT", "\\NONEXISTENT"} & {f.upper() for f in folder.flags}]


def _delete_from(mailbox: Mailbox, wanted: Mapping[str, tuple[str, str]]) -> int:
    """Delete the mails `wanted` (external id: (locator, hash of the bytes)) from every
    folder of `mailbox`'s account; how many were deleted. Raises when the server cannot be
    used."""
    digests = {raw_digest for _, raw_digest in wanted.values()}
    searches = sorted({_criteria(found_by) for found_by, _ in wanted.values()})
    client = imap.connect(mailbox.imap)
    try:
        deleted = 0
        for folder in folders_of(client):
            client.folder.set(folder)
            uids = _search(client, searches)
            # A few at a time: a sender's mails may be many scanned documents.
            ours = [uid for start in range(0, len(uids), FETCH_AT_ONCE)
                    for uid, raw in imap.fetch_raw(client, uids[start:start + FETCH_AT_ONCE])
                    if digest(raw) in digests]
            if ours:
                _expunge(client, ours)
                deleted += len(ours)
        return deleted
    finally:
        imap.disconnect(client)


def _criteria(found_by: str) -> str:
    """The IMAP search key for a locator (`locator` made it searchable as a quoted string)."""
    if found_by.startswith(SENDER):
        # The address a reply goes to: From's, or Reply-To's when the mail named no From.
        address = found_by.removeprefix(SENDER)
        return f'OR FROM "{address}" HEADER Reply-To "{address}"'
    return f'HEADER Message-ID "{found_by}"'


def _search(client: BaseMailBox, keys: list[str]) -> list[int]:
    """The UIDs of the selected folder's mails matching any of `keys`, in one command (a
    large folder is read once, however many mails are sought): "OR OR a b c"."""
    typ, data = client.client.uid("SEARCH", "OR " * (len(keys) - 1) + " ".join(keys))
    if typ != "OK":
        raise imaplib.IMAP4.error(f"SEARCH answered {typ}")
    return sorted({int(uid) for line in data if line for uid in line.split()})


def _expunge(client: BaseMailBox, uids: list[int]) -> None:
    """Mark the mails deleted and remove them: only those where the server can (UIDPLUS),
    else with whatever else in the folder was already marked so."""
    names = imap.uid_set(uids)
    typ, _ = client.client.uid("STORE", names, "+FLAGS.SILENT", r"(\Deleted)")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"STORE answered {typ}")
    if "UIDPLUS" in client.client.capabilities:
        typ, _ = client.client.uid("EXPUNGE", names)
    else:
        typ, _ = client.client.expunge()
    if typ != "OK":
        raise imaplib.IMAP4.error(f"EXPUNGE answered {typ}")
