"""The e-mail channel's reading state: each folder's cursor, the failed attempts per mail and
the dead letters (see channels.email.imap)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update

from inbox.storage.records import Records, Row, utcnow
from inbox.storage.schema import mail_attempts, mail_cursors, mail_dead_letters


class MailRecords(Records):
    async def cursor(self, mailbox: str, folder: str) -> Row | None:
        """{uidvalidity, last_uid} of a folder, or None before its first poll."""
        return await self._one(select(mail_cursors).where(mail_cursors.c.mailbox == mailbox,
                                                          mail_cursors.c.folder == folder))

    async def set_cursor(self, mailbox: str, folder: str, uidvalidity: int,
                         last_uid: int) -> None:
        values = {"uidvalidity": uidvalidity, "last_uid": last_uid, "updated_at": utcnow()}
        result = await self.conn.execute(
            update(mail_cursors).where(mail_cursors.c.mailbox == mailbox,
                                       mail_cursors.c.folder == folder).values(**values))
        if result.rowcount == 0:
            await self.conn.execute(insert(mail_cursors).values(mailbox=mailbox, folder=folder,
                                                                **values))

    async def count_attempt(self, mailbox: str, digest: str, error: str) -> int:
        """One more failed attempt at a mail; how many there have been."""
        key = (mail_attempts.c.mailbox == mailbox, mail_attempts.c.digest == digest)
        result = await self.conn.execute(
            update(mail_attempts).where(*key).values(
                attempts=mail_attempts.c.attempts + 1, error=error, updated_at=utcnow())
            .returning(mail_attempts.c.attempts))
        attempts = result.scalar()
        if attempts is None:
            await self.conn.execute(insert(mail_attempts).values(
                mailbox=mailbox, digest=digest, attempts=1, error=error, updated_at=utcnow()))
            attempts = 1
        return int(attempts)

    async def forget_attempts(self, mailbox: str, digests: Sequence[str]) -> None:
        if digests:
            await self.conn.execute(delete(mail_attempts).where(
                mail_attempts.c.mailbox == mailbox, self.one_of(mail_attempts.c.digest, digests)))

    async def bury(self, mailbox: str, folder: str, uid: int, digest: str, raw: bytes,
                   error: str, attempts: int, sender_digest: str | None = None) -> int:
        """Keep a mail that cannot be taken in as a dead letter (once per mailbox and raw
        mail), with its sender's digest; its id."""
        found = await self._one(select(mail_dead_letters.c.id).where(
            mail_dead_letters.c.mailbox == mailbox, mail_dead_letters.c.digest == digest))
        await self.forget_attempts(mailbox, [digest])
        if found is not None:
            return int(found["id"])
        return await self._insert(mail_dead_letters, {
            "mailbox": mailbox, "folder": folder, "uid": uid, "digest": digest, "raw": raw,
            "error": error, "attempts": attempts, "created_at": utcnow(),
            "sender_digest": sender_digest})

    async def buried_digests(self, mailbox: str, digests: Sequence[str]) -> set[str]:
        """Which of these mails are dead letters already (a folder read again after its
        UIDVALIDITY changed finds them once more)."""
        if not digests:
            return set()
        rows = await self._all(select(mail_dead_letters.c.digest).where(
            mail_dead_letters.c.mailbox == mailbox,
            self.one_of(mail_dead_letters.c.digest, digests)))
        return {row["digest"] for row in rows}

    async def dead_letters(self, limit: int = 200) -> list[Row]:
        """The newest dead letters first, without their raw mail."""
        columns = [c for c in mail_dead_letters.c if c.name != "raw"]
        return await self._all(select(*columns).order_by(mail_dead_letters.c.id.desc())
                               .limit(limit))

    async def dead_letter(self, letter_id: int) -> Row | None:
        return await self._one(select(mail_dead_letters)
                               .where(mail_dead_letters.c.id == letter_id))

    async def note_replay_failure(self, letter_id: int, error: str) -> None:
        await self.conn.execute(update(mail_dead_letters)
                                .where(mail_dead_letters.c.id == letter_id)
                                .values(error=error, attempts=mail_dead_letters.c.attempts + 1))

    async def remove_dead_letter(self, letter_id: int) -> None:
        await self.conn.execute(delete(mail_dead_letters)
                                .where(mail_dead_letters.c.id == letter_id))
