"""What agents see of a guided intake: its answers as the case's structured fields, in the
form's order, with the FIN masked for anyone who is not an operator of the conversation's
queue (the registration operators work with it; a supervisor reading along does not need it).
The masking happens here, on the server: a masked value never reaches the browser. Pure."""

from __future__ import annotations

from typing import Any

from inbox.guided_intake.form import Form
from inbox.storage import Row
from routing.entities import Entity, mask_text
from settings import GuidedIntake

# The step kinds whose answers identify a person: masked for those outside the queue.
MASKED_KINDS = ("fin", "id_card")


def _masked(kind: str, value: str) -> str:
    return Entity(kind, value, 0, len(value)).masked()


def _labels(form: Form, config: GuidedIntake, kind: str, value: Any) -> dict[str, str] | None:
    """A chosen option's or service's label in each console language."""
    if kind == "service":
        service = config.service(value)
        return dict(service.labels) if service else None
    if kind == "choice":
        return {language: texts[f"option.{value}"] for language, texts in form.texts.items()}
    return None


def intake_view(row: Row, form: Form, config: GuidedIntake, *, unmasked: bool
                ) -> dict[str, Any]:
    state = row["state"]
    answers = state.get("answers") or {}
    fields = []
    for step in form.steps:
        if step.kind in ("consent", "documents") or step.id not in answers:
            continue
        value = answers[step.id]
        masked = value is not None and step.kind in MASKED_KINDS and not unmasked
        fields.append({"id": step.id, "kind": step.kind,
                       "value": _masked(step.kind, value) if masked else value,
                       "masked": masked,
                       "labels": _labels(form, config, step.kind, value)
                       if value is not None else None})
    return {"status": row["status"], "step": state.get("step"), "reason": row["reason"],
            "consent": answers.get("consent"), "fields": fields,
            "documents": list(state.get("documents") or ())}


def masked_body(body: str | None) -> str | None:
    """A message of an intake conversation as someone outside its queue reads it: the
    identifiers the resident typed in answer masked too, not only the structured fields."""
    return mask_text(body) if body else body
