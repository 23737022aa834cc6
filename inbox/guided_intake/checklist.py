"""What a resident who asks to register where no dialogue can be held (an e-mail) reads
instead of the guided intake: the facts to send and each service's documents, from
templates/replies/registration_documents.<language>.txt, appended to the acknowledgement."""

from __future__ import annotations

from inbox.context import InboxContext
from inbox.replies import render_reply, reply_language


def applies(ctx: InboxContext, channel: str, category: str | None) -> bool:
    traits = ctx.channels[channel]
    return (ctx.config.guided_intake.enabled and category == "registration"
            and not traits.dialogue and traits.acknowledged)


def documents_to_send(ctx: InboxContext, language: str | None) -> str:
    language = reply_language(language)
    intake = ctx.config.guided_intake
    services = [{"label": service.label(language),
                 "documents": [d.label(language) for i in service.documents
                               if (d := intake.document(i)) is not None]}
                for service in intake.services]
    return render_reply("registration_documents", language, services=services)
