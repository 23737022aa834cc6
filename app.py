"""The web application (aiohttp) and the operators' command line.

    python app.py serve [--host H] [--port P]
    python app.py migrate
    python app.py user add EMAIL --name NAME --role agent|supervisor|admin
                           [--queues q1,q2 | --no-queues] [--languages az,ru]
                           [--voice-address A] --password-stdin
    python app.py user list | deactivate EMAIL | reactivate EMAIL
    python app.py config check [PATH]
    python app.py email dead-letters | replay ID
    python app.py contact erase ID --reason resident_request|legal_order [--reference R]
    python app.py telegram set-webhook | status
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator

from aiohttp import web

from channels.email import dead_letters as mail_dead_letters
from channels.registry import CHANNELS, channel_book, config_problems
from channels.telegram import admin as telegram_admin
from channels.telegram.settings import telegram_settings
from channels.twilio.voice_twiml import stored_voice_address
from inbox import canned, channel_traits, erasure, users
from inbox.actions import ActionError
from inbox.auth import ROLES
from inbox.context import open_context
from inbox.ingest import warm_up
from inbox.intake import Intake
from inbox.keys import secret_key
from inbox.live import LiveHub
from inbox.logs import configure_logging
from inbox.storage.db import ROOT, database_url, migrate
from routing.model import shared_model
from settings import Config, ConfigError, load_config
from web import admin, api, console, mail, openapi, ops, shared_media
from web import canned as canned_api
from web import outcomes as outcome_api
from web import reports as report_api
from web.appkeys import CONTEXT, HUB, INTAKE, READINESS, SECRET_KEY, VOICE_ADDRESS
from web.collector import Collector
from web.http import json_errors, redis_outage, storable_query

log = logging.getLogger("app")


async def _resources(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CONTEXT]
    # Load (or, on a fresh clone, build) the classifier before the first message needs it.
    await asyncio.to_thread(shared_model)
    await warm_up(ctx)
    ctx.store.start_upkeep()
    hub = LiveHub(ctx.redis, ctx.redis_outage)
    await hub.start()
    app[HUB] = hub
    intake = app[INTAKE] = Intake(ctx, ctx.config.intake.max_lag_s)
    intake.start()
    ctx.take_in = intake.take_in
    ops.INTAKE_BACKLOG.set_function(lambda: intake.backlog)
    ops.INTAKE_LAG.set_function(lambda: intake.lag_s)
    yield
    await intake.stop()
    await hub.stop()
    await ctx.close()


async def _end_streams(app: web.Application) -> None:
    app[HUB].close_streams()


async def _long_lived_collector(_app: web.Application) -> AsyncIterator[None]:
    """What start-up made, and the open windows that survive each full collection, are kept
    out of the next one (`web.collector`): serving processes only, where windows stay open."""
    collector = Collector()
    collector.start()
    yield
    await collector.stop()


def create_app(config: Config) -> web.Application:
    app = web.Application(
        client_max_size=config.limits.max_body_bytes,
        middlewares=[ops.measure, json_errors, redis_outage, api.require_session,
                     admin.admins_only, storable_query,
                     api.action_errors],
    )
    canned.shipped()   # a shipped canned response missing a language stops the start here
    book = channel_book()
    channel_traits.install(book)   # for inbox code run outside a request's context
    app[CONTEXT] = open_context(config, channels=book, upkeep=True)
    app[SECRET_KEY] = secret_key()
    app[VOICE_ADDRESS] = stored_voice_address
    app.cleanup_ctx.append(_resources)
    app.on_shutdown.append(_end_streams)
    app.add_routes(ops.routes)
    app.add_routes(api.routes)
    app.add_routes(admin.routes)
    app.add_routes(report_api.routes)
    app.add_routes(canned_api.routes)
    app.add_routes(outcome_api.routes)
    app.add_routes(mail.routes)
    app.add_routes(openapi.routes)
    app.add_routes(shared_media.routes)
    console.setup_routes(app)
    app[READINESS] = {}
    for channel in CHANNELS.values():
        channel.setup_routes(app)
    app.router.add_static("/static", ROOT / "static", name="static")
    return app


def checked_config(path: str | None = None) -> tuple[Config | None, list[str]]:
    """The configuration, or the report of everything wrong in it (settings/ and the
    channels' own sections), one line each."""
    try:
        config = load_config(path) if path else load_config()
    except ConfigError as exc:
        return None, exc.format().splitlines()
    problems = config_problems(config)
    return config, ConfigError(config.source, problems).format().splitlines() if problems else []


def cmd_serve(args: argparse.Namespace) -> int:
    config, problems = checked_config()
    if problems:
        report = "\n".join(problems)
        print(f"refusing to start: the configuration has errors\n{report}", file=sys.stderr)
        return 1
    migrate()
    print(f"contact centre on http://{args.host}:{args.port}  (public URL {config.public_url})",
          flush=True)
    app = create_app(config)
    app.cleanup_ctx.append(_long_lived_collector)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrate()
    print(f"database schema is up to date ({database_url().split('@')[-1]})")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        config = load_config()
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return 1
    account, problems = users.checked_account(
        args.email, args.name, args.role, args.queues, args.languages, config.queue_ids,
        without_queues=args.no_queues)
    if problem := users.password_problem(password):
        problems.append(problem)
    voice: dict[str, str | None] = {}
    if args.voice_address is not None:   # given: set it ("" clears it); absent: keep it
        address, problem = users.checked_voice_address(args.voice_address, stored_voice_address)
        if problem:
            problems.append(problem)
        voice["voice_address"] = address
    if problems:
        print("\n".join(problems) + "\nnothing was saved", file=sys.stderr)
        return 2
    migrate()
    saved = _with_context(config, lambda ctx: users.save(ctx, account, password, voice))
    print(f"user {saved.user_id} <{args.email}> saved as {account.role}")
    if saved.sessions_ended:
        print(f"the password changed: {saved.sessions_ended} session(s) ended")
    if not saved.active:
        print("the account is deactivated; `user reactivate` restores access")
    return 0


def _with_context(config: Config | None, work):
    """Runs `work(ctx)` on a short-lived context (the command line's one piece of work)."""
    async def run():
        # The channels' traits too: what a command does may depend on them (an erasure lists
        # what the providers keep).
        ctx = open_context(config, pool=False, channels=channel_book())
        try:
            return await work(ctx)
        finally:
            await ctx.close()
    return asyncio.run(run())


def cmd_user_list(_args: argparse.Namespace) -> int:
    migrate()
    rows = _with_context(None, users.all_users)
    if not rows:
        print("no users yet: create one with `app.py user add`")
        return 0
    table = [("ID", "E-MAIL", "NAME", "ROLE", "ACCESS", "PRESENCE", "QUEUES", "LANGUAGES")]
    table += [(str(u["id"]), u["email"], u["name"], u["role"],
               "active" if u["active"] else "deactivated", u["presence"],
               ",".join(u["queues"] or []) or "-", ",".join(u["languages"] or []) or "-")
              for u in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def cmd_user_deactivate(args: argparse.Namespace) -> int:
    migrate()
    done = _with_context(None, lambda ctx: users.deactivate(ctx, args.email))
    if done is None:
        print(f"no user has the e-mail address {args.email}", file=sys.stderr)
        return 1
    print(f"user {done.user_id} <{args.email}> deactivated: {done.sessions_ended} session(s) "
          f"ended, {len(done.returned)} conversation(s) returned to their queues")
    return 0


def cmd_user_reactivate(args: argparse.Namespace) -> int:
    migrate()
    user = _with_context(None, lambda ctx: users.reactivate(ctx, args.email))
    if user is None:
        print(f"no user has the e-mail address {args.email}", file=sys.stderr)
        return 1
    print(f"user {user['id']} <{args.email}> reactivated: they can sign in again")
    return 0


def cmd_corrections_export(args: argparse.Namespace) -> int:
    """Agents' category corrections as labelled JSONL for `python -m routing.train`."""
    migrate()

    async def export() -> list[dict]:
        ctx = open_context(load_config(), pool=False)
        try:
            async with ctx.store.read() as tx:
                return await tx.events.corrections()
        finally:
            await ctx.close()

    rows = asyncio.run(export())
    # The latest correction of a conversation is the one that counts.
    latest = {row["conversation_id"]: row for row in rows}
    with open(args.path, "w", encoding="utf-8") as out:
        for row in latest.values():
            out.write(json.dumps({"text": row["text"], "label": row["corrected"],
                                  "lang": row["language"] or "az"}, ensure_ascii=False) + "\n")
    print(f"{len(latest)} correction(s) written to {args.path}")
    return 0


def cmd_email_dead_letters(_args: argparse.Namespace) -> int:
    """The mails the polls could not take in, newest first (no addresses: only the admin's
    next step, `email replay ID`, needs to open one)."""
    migrate()
    rows = _with_context(None, mail_dead_letters.dead_letters)
    if not rows:
        print("no dead letters: every mail read has been taken in")
        return 0
    table = [("ID", "MAILBOX", "FOLDER", "UID", "ATTEMPTS", "SINCE", "ERROR")]
    table += [(str(r["id"]), r["mailbox"], r["folder"], str(r["uid"]), str(r["attempts"]),
               r["created_at"].isoformat(timespec="seconds"),
               r["error"].splitlines()[0][:80] if r["error"] else "-") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    return 0


def cmd_email_replay(args: argparse.Namespace) -> int:
    migrate()
    channel_traits.install(channel_book())   # the inbox takes the mail in as e-mail
    result = _with_context(None, lambda ctx: mail_dead_letters.replay(ctx, args.id))
    if result is None:
        print(f"no dead letter has the id {args.id}", file=sys.stderr)
        return 1
    if not result.stored:
        print(f"dead letter {args.id} still cannot be taken in: {result.error}",
              file=sys.stderr)
        return 2
    what = "was already stored as" if result.duplicate else "stored as"
    print(f"dead letter {args.id} {what} message {result.message_id}; removed from the dead "
          "letters")
    return 0


def cmd_contact_erase(args: argparse.Namespace) -> int:
    """Erase a resident's personal data (`inbox.erasure`), as an admin does in the console;
    the audit trail records it by nobody, with the reason and reference given."""
    migrate()
    try:
        reference = erasure.reference_of(args.reference)
        result = _with_context(None, lambda ctx: erasure.erase_contact(
            ctx, args.id, reason=args.reason, reference=reference))
    except ActionError as exc:
        print(f"contact {args.id} was not erased: {exc}", file=sys.stderr)
        return 1
    print(f"contact {args.id} erased: {result.conversations} conversation(s), "
          f"{result.messages} message(s), {result.files} file(s), "
          f"{result.at_providers} record(s) to delete at the providers, "
          f"{result.dead_letters} dead letter(s)")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    path = args.path or os.environ.get("CC_CONFIG") or "config.yaml"
    config, problems = checked_config(path)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(config.queues)} queues, {len(config.routing.rules)} routing rules)")
    return 0


def cmd_telegram(args: argparse.Namespace) -> int:
    """Register the Telegram webhook (once, at deployment) or show getWebhookInfo."""
    config, problems = checked_config()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    code, text = asyncio.run(telegram_admin.command(
        args.action, config.public_url, telegram_settings(config.channels.section("telegram"))))
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="app.py", description="Contact-centre web application")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web application")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(run=cmd_serve)
    commands.add_parser("migrate", help="bring the database schema up to date") \
        .set_defaults(run=cmd_migrate)
    user = commands.add_parser("user", help="manage users").add_subparsers(dest="action",
                                                                           required=True)
    add = user.add_parser("add", help="create or update a user")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--queues", default="")
    add.add_argument("--no-queues", action="store_true",
                     help="an agent without queues, on purpose (they see an empty inbox)")
    add.add_argument("--languages", default="az")
    add.add_argument("--voice-address", default=None,
                     help="where calls ring: +994..., sip:user@host or client:identity "
                          "(empty clears it)")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(run=cmd_user_add)
    user.add_parser("list", help="list users").set_defaults(run=cmd_user_list)
    for name, run, what in [("deactivate", cmd_user_deactivate,
                             "end a user's access: sessions, tokens, assigned conversations"),
                            ("reactivate", cmd_user_reactivate, "restore a user's access")]:
        command = user.add_parser(name, help=what)
        command.add_argument("email")
        command.set_defaults(run=run)
    config = commands.add_parser("config", help="configuration").add_subparsers(
        dest="action", required=True)
    check = config.add_parser("check", help="validate a config file")
    check.add_argument("path", nargs="?")
    check.set_defaults(run=cmd_config_check)
    email = commands.add_parser("email", help="the e-mail channel's mailboxes") \
        .add_subparsers(dest="action", required=True)
    email.add_parser("dead-letters", help="list the mails the polls could not take in") \
        .set_defaults(run=cmd_email_dead_letters)
    replay = email.add_parser("replay", help="take a dead letter in again (removed on success)")
    replay.add_argument("id", type=int)
    replay.set_defaults(run=cmd_email_replay)
    contact = commands.add_parser("contact", help="residents' contacts") \
        .add_subparsers(dest="action", required=True)
    erase = contact.add_parser("erase", help="erase a resident's personal data (every "
                               "conversation of theirs must be resolved)")
    erase.add_argument("id", type=int)
    erase.add_argument("--reason", required=True, choices=erasure.REASONS)
    erase.add_argument("--reference", help="the request's or order's number in the registry")
    erase.set_defaults(run=cmd_contact_erase)
    telegram = commands.add_parser("telegram", help="the Telegram bot").add_subparsers(
        dest="action", required=True)
    telegram.add_parser("set-webhook", help="register the webhook URL, secret and update "
                        "kinds with Telegram (once, at deployment)").set_defaults(run=cmd_telegram)
    telegram.add_parser("status", help="show Telegram's getWebhookInfo") \
        .set_defaults(run=cmd_telegram)
    corrections = commands.add_parser("corrections", help="classifier training data") \
        .add_subparsers(dest="action", required=True)
    export = corrections.add_parser("export", help="write agents' corrections as JSONL")
    export.add_argument("path")
    export.set_defaults(run=cmd_corrections_export)
    return top


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
