"""The copy of a resident's data (`inbox.subject_access`) as a page to print or save as PDF
and hand to the resident, in their language: written to them ("you", "the contact centre"),
with channels, subject areas, queues and DOST centres by name instead of the JSON's ids.

Its words are templates/subject_access/texts.yaml (az, ru, en); its markup is copy.html
beside it. The page runs no script and loads nothing: its one stylesheet is inline and
allowed by its hash, everything the resident wrote is escaped."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2

from inbox.replies import FALLBACK_LANGUAGE, REPLY_LANGUAGES, TEMPLATES_DIR
from inbox.storage.erasure import ERASED_ADDRESS
from inbox.texts import Catalogue, fill, load_catalogue
from settings import Config

COPY_DIR = TEMPLATES_DIR / "subject_access"
_CSS = (COPY_DIR / "copy.css").read_text(encoding="utf-8").replace("\r\n", "\n")
_CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (f"default-src 'none'; style-src '{_CSS_HASH}'; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Dates as each language writes them by hand; the copy is read on paper, not in a browser's
# locale.
_DAY = {"az": "%d.%m.%Y", "ru": "%d.%m.%Y", "en": "%d/%m/%Y"}
# Channels whose address is a key of ours, not one the resident knows: the web chat's is the
# random id of the browser's session, which says nothing to them on paper.
_KEYED_ADDRESSES = frozenset({"webchat"})

_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(COPY_DIR),
                            autoescape=jinja2.select_autoescape(["html"]),
                            undefined=jinja2.StrictUndefined)


@lru_cache(maxsize=1)
def copy_texts() -> Catalogue:
    return load_catalogue(COPY_DIR / "texts.yaml")


def copy_language(document: dict[str, Any], asked: str | None) -> str:
    """The language asked for; else the resident's; else their latest conversation's; else
    Azerbaijani."""
    if asked in REPLY_LANGUAGES:
        return asked
    spoken = [document["contact"]["language"]] + [
        c["language"] for c in reversed(document["conversations"])]
    return next((language for language in spoken if language in REPLY_LANGUAGES),
                FALLBACK_LANGUAGE)


def render_copy(document: dict[str, Any], config: Config, language: str) -> str:
    """The page of `document` (`inbox.subject_access.export_contact`) in `language`."""
    texts = copy_texts()[language]

    def t(key: str, **values: Any) -> str:
        return fill(texts[key], values)

    def day(stamp: str | None) -> str:
        return datetime.fromisoformat(stamp).strftime(_DAY[language]) if stamp else ""

    def moment(stamp: str | None) -> str:
        return datetime.fromisoformat(stamp).strftime(_DAY[language] + ", %H:%M") \
            if stamp else ""

    def named(prefix: str, value: str | None) -> str:
        return texts.get(f"{prefix}_{value}", value or "")

    contact = document["contact"]
    about = [(t("field_name"), contact["name"] or t("not_given")),
             (t("field_phone"), contact["phone"] or t("not_given")),
             (t("field_email"), contact["email"] or t("not_given")),
             (t("field_language"), named("language", contact["language"]) or t("not_given")),
             (t("field_preferred_channel"),
              named("channel", contact["preferred_channel"]) or t("not_given")),
             (t("field_since"), day(contact["created_at"]))]
    identities = [{"channel": named("channel", i["channel"]),
                   "address": "" if i["channel"] in _KEYED_ADDRESSES else i["address"],
                   "since": t("identity_since", date=day(i["created_at"])),
                   "reply_to": ", ".join(filter(None, (
                       (i["reply_to"] or {}).get("phone"), (i["reply_to"] or {}).get("email"))))}
                  for i in contact["identities"]
                  # An erased identity's address is a mark of ours, nothing of theirs.
                  if not i["address"].startswith(ERASED_ADDRESS)]
    identifiers = [{"kind": named("kind", c["kind"]), "value": c["value"],
                    "found": t("identifier_found", date=day(c["found_at"]))}
                   for c in document["typed_identifiers"]]
    conversations = [_conversation(c, config, language, t, named, moment)
                     for c in document["conversations"]]
    return _pages.get_template("copy.html").render(
        t=t, lang=language, css=_CSS, prepared=day(document["exported_at"]),
        erased=day(contact["erased_at"]), about=about, identities=identities,
        identifiers=identifiers, conversations=conversations)


def _conversation(conversation: dict[str, Any], config: Config, language: str, t, named,
                  moment) -> dict[str, Any]:
    facts = [(t("conv_channel"), named("channel", conversation["channel"])),
             (t("conv_opened"), moment(conversation["created_at"])),
             (t("conv_resolved"), moment(conversation["resolved_at"])
              if conversation["status"] == "resolved" else t("conv_in_progress"))]
    if conversation["category"]:
        facts.append((t("conv_category"), named("category", conversation["category"])))
    if conversation["queue"]:
        queue = next((q for q in config.queues if q.id == conversation["queue"]), None)
        facts.append((t("conv_queue"), queue.label(language) if queue else
                      conversation["queue"]))
    closing = []
    for outcome in conversation["outcomes"]:
        closing.append(t("outcome", kind=named("outcome", outcome["kind"])))
        if outcome["reason"]:
            closing.append(t("outcome_reason", reason=outcome["reason"]))
        if outcome["centre"]:
            centre = config.dost_centre(outcome["centre"])
            closing.append(t("outcome_centre", centre=centre.text(language)["centre"]
                             if centre else outcome["centre"]))
    for survey in conversation["surveys"]:
        closing.append(t("survey", score=survey["score"]))
        if survey["comment"]:
            closing.append(t("survey_comment", comment=survey["comment"]))
    return {"id": conversation["id"], "facts": facts, "closing": closing,
            "messages": [_message(m, t, moment) for m in conversation["messages"]]}


def _message(message: dict[str, Any], t, moment) -> dict[str, Any]:
    mail = message.get("email") or {}
    attachments = [a.get("filename") or t("attachment_unnamed")
                   for a in message.get("attachments") or ()]
    if message.get("erased"):
        text = t("message_erased")
    else:
        text = message["body"] or ("" if attachments else t("message_empty"))
    from_you = message["direction"] == "in"
    return {
        "side": "from-you" if from_you else "from-centre",
        "who": t("from_you") if from_you else t("from_centre"),
        "at": moment(message["created_at"]),
        "subject": t("mail_subject", subject=mail["subject"]) if mail.get("subject") else "",
        "text": text,
        "attachments": t("attachments", names=", ".join(attachments)) if attachments else "",
        "failed": t("not_delivered") if message.get("delivery_status") == "failed" else "",
    }
