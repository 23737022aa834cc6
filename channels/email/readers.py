"""Turning fetched raw mails into the inbox's messages: the MIME parse, the new text, the raw
mail kept on disk. This is the CPU of a poll, and the stdlib's parser holds the GIL.

The mails read together (a piece, or a poll's few) are kept in one pack file, each at its
offset (`inbound.pack_path`): on some disks creating a file costs the kernel more than
parsing the mail (0.66 ms on a virtual machine the benchmark ran on), and a backlog made one
per mail. A mail read alone (a dead letter's replay) keeps a file of its own.

A few mails are read in a thread. A backlog (a mailbox's first poll, a UIDVALIDITY reset, a
worker back after an outage) is read in reading processes, one per core, so that the parse
of the next chunk runs beside the storing of this one instead of before it. Each is
`python -m channels.email.readers`, which imports only what reading needs (a fork of the
poll would copy its threads; multiprocessing's spawn would import the whole worker again in
each), and answers pickled requests on its pipes. A reading process that dies leaves its
mails to the thread, so a mail is never lost to it; one whose poll died sees its stdin end
and exits. Reading processes run at a lower priority (`READER_NICENESS`): the poll, which
stores one chunk after another, is the stage the backlog waits for, and the app serving the
agents on the same machine comes before a backlog's parse too.

A mail that cannot be read comes back as `Unread` (the error's words, as the dead letters
keep them), never as an exception that would have to cross a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import secrets
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from channels.email.inbound import inbound_message, kept_at, pack_path, raw_path, sender_of
from channels.email.mime import Bounce, Mail, parse_mail
from inbox.clock import utcnow
from inbox.messages import InboundMessage
from settings import Mailbox

log = logging.getLogger(__name__)

# Mails handed to a worker process at a time: small enough that two workers share a chunk
# evenly, large enough that the hand-over costs little beside the parse.
PIECE = 25
# Added to a reading process's niceness: the cores go to the poll (and the app) first.
READER_NICENESS = 10


@dataclass(frozen=True)
class ReadMail:
    message: InboundMessage
    bounce: Bounce | None       # what the mail reports, when it is a delivery report


@dataclass(frozen=True)
class Unread:
    """A mail that could not be made a message."""
    kind: str                   # the error's type name, for the logs
    error: str                  # "Kind: words", as the dead letter keeps it

    @classmethod
    def of(cls, exc: BaseException) -> Unread:
        return cls(type(exc).__name__, f"{type(exc).__name__}: {exc}"[:2000])


def keep_raw(path: Path, raw: bytes) -> None:
    """Write a raw mail or a pack once (read again, it is the same file, named by its hash),
    whole or not at all. A file kept already is touched: in use again, it is not swept as
    one no message names (`kept_sweep`)."""
    if path.exists():
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    partial.write_bytes(raw)
    os.replace(partial, path)


def read_mail(raw: bytes, digest: str, mailbox: Mailbox, media_dir: Path,
              own_addresses: tuple[str, ...], read_at: datetime,
              oldest: datetime | None = None) -> ReadMail:
    """The message of one raw mail (its hash `digest`) that reached `mailbox`, its raw bytes
    kept under `media_dir`; a Date before `oldest` is not believed (`inbound.sent_at`).
    Raises when it cannot be taken in (`inbound.NoSender`, ...)."""
    mail = parse_mail(raw, own_addresses=own_addresses)
    sender_of(mail)   # a mail naming nobody fails before its bytes are kept
    path = raw_path(media_dir, mailbox.id, digest)
    keep_raw(path, raw)
    return ReadMail(inbound_message(mail, raw, mailbox, kept_at(path), read_at, oldest),
                    mail.bounce)


def read_mails(mails: Sequence[tuple[bytes, str]], mailbox: Mailbox, media_dir: Path,
               own_addresses: tuple[str, ...], read_at: datetime,
               oldest: datetime | None = None) -> list[ReadMail | Unread]:
    """As `read_mail` of each (raw, digest), in order, the raw mails kept in one pack; a
    mail that fails fails alone (all of them when the pack cannot be written). Only the mails
    made messages are packed: bytes no message names would be kept for nothing."""
    parsed: list[Mail | Unread] = []
    for raw, _ in mails:
        try:
            mail = parse_mail(raw, own_addresses=own_addresses)
            sender_of(mail)   # a mail naming nobody fails here, before any message is built
            parsed.append(mail)
        except Exception as exc:
            parsed.append(Unread.of(exc))
    # The pack's name and each mail's place in it depend on the mails it holds: when a
    # message cannot be built, the others are placed again in a pack without that mail.
    while packed := [index for index, one in enumerate(parsed) if isinstance(one, Mail)]:
        path = pack_path(media_dir, mailbox.id, [mails[index][1] for index in packed])
        built: dict[int, ReadMail] = {}
        offset = 0
        for index in packed:
            mail, raw = parsed[index], mails[index][0]
            assert isinstance(mail, Mail)
            try:
                built[index] = ReadMail(inbound_message(
                    mail, raw, mailbox, kept_at(path, (offset, len(raw))), read_at, oldest),
                    mail.bounce)
            except Exception as exc:
                parsed[index] = Unread.of(exc)
            offset += len(raw)
        if len(built) < len(packed):
            continue
        try:
            keep_raw(path, b"".join(mails[index][0] for index in packed))
        except OSError as exc:
            return [Unread.of(exc)] * len(mails)
        return [built.get(index, one) for index, one in enumerate(parsed)]
    return parsed   # type: ignore[return-value] - none of them is a Mail


def worker_count() -> int:
    """The cores this process may run on: a reading process each."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not Linux
        return max(1, os.cpu_count() or 1)


_FRAME = struct.Struct(">Q")


class _ReadingProcess:
    """One reading process and its pipes: a request (read_mails' arguments) and its answer
    (the list it returns) are each one length-prefixed pickle."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @classmethod
    async def start(cls) -> _ReadingProcess:
        return cls(await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE))

    async def read(self, *args: Any) -> list[ReadMail | Unread]:
        request = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(_FRAME.pack(len(request)) + request)
        await self.process.stdin.drain()
        [size] = _FRAME.unpack(await self.process.stdout.readexactly(_FRAME.size))
        return pickle.loads(await self.process.stdout.readexactly(size))

    async def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class MailReader:
    """Reads the mails of one poll of `mailbox`: in `workers` reading processes (once
    `start` has started them), or in a thread when there are none. `stop()` ends them. A
    Date older than `window` (the re-read window) is not believed."""

    def __init__(self, mailbox: Mailbox, media_dir: Path, own_addresses: tuple[str, ...],
                 workers: int = 0, window: timedelta | None = None):
        self.window = window
        self.mailbox = mailbox
        self.media_dir = media_dir
        self.own_addresses = own_addresses
        self.workers = workers
        self._processes: list[_ReadingProcess] = []

    async def start(self) -> None:
        """Start the reading processes: they import while the first chunk is fetched."""
        for _ in range(self.workers):
            try:
                self._processes.append(await _ReadingProcess.start())
            except OSError as exc:
                log.warning("mailbox %s: no reading process (%s); reading in the poll's "
                            "thread", self.mailbox.id, type(exc).__name__)
                break

    async def read(self, mails: Sequence[tuple[bytes, str]]) -> list[ReadMail | Unread]:
        """Each (raw, digest) as a message, or why not; in order."""
        now = utcnow()
        args = (self.mailbox, self.media_dir, self.own_addresses, now,
                now - self.window if self.window else None)
        if not self._processes:
            return await asyncio.to_thread(read_mails, mails, *args)
        pieces = [mails[start:start + PIECE] for start in range(0, len(mails), PIECE)]
        done: list[list[ReadMail | Unread] | None] = [None] * len(pieces)
        waiting = iter(range(len(pieces)))

        async def serve(process: _ReadingProcess) -> None:
            for index in waiting:
                try:
                    done[index] = await process.read(pieces[index], *args)
                except (OSError, EOFError, asyncio.IncompleteReadError, pickle.PickleError):
                    log.warning("mailbox %s: a reading process ended; reading in the poll's "
                                "thread", self.mailbox.id)
                    self._processes.remove(process)
                    done[index] = await asyncio.to_thread(read_mails, pieces[index], *args)
                    return

        await asyncio.gather(*(serve(process) for process in list(self._processes)))
        for index, piece in enumerate(pieces):   # those a dead process left
            if done[index] is None:
                done[index] = await asyncio.to_thread(read_mails, piece, *args)
        return [read for piece in done for read in piece]

    async def stop(self) -> None:
        processes, self._processes = self._processes, []
        await asyncio.gather(*(process.stop() for process in processes))


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """A reading process's life: answer each request until the poll closes the pipe."""
    while header := requests.read(_FRAME.size):
        [size] = _FRAME.unpack(header)
        args = pickle.loads(requests.read(size))
        answer = pickle.dumps(read_mails(*args), protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(_FRAME.pack(len(answer)) + answer)
        answers.flush()


if __name__ == "__main__":
    # The answers go to the pipe stdout was; anything printed goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    os.nice(READER_NICENESS)
    # Through the module's importable name, so that what it answers unpickles in the poll
    # (this copy's classes are __main__'s).
    from channels.email import readers
    readers.serve(sys.stdin.buffer, answers)
