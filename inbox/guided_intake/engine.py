"""The intake's state machine, pure: given the form, the deployment's services and where the
dialogue stands, what one message of the resident changes and what the bot answers.

A turn ends in one of four outcomes: `continue` (the next question, or the same one again
with a correction), `complete` (every step answered or skipped: the case goes to the
registration queue), `handover` (the resident asked for a person, declined consent, or
failed one step `max_attempts` times: an operator takes what was collected), `paused` (the
resident wrote "stop": the next message resumes at the same step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from inbox.guided_intake import validators
from inbox.guided_intake.form import Form, Step
from settings import GuidedIntake

CONTINUE, COMPLETE, HANDOVER, PAUSED = "continue", "complete", "handover", "paused"


@dataclass(frozen=True)
class State:
    step: str
    answers: Mapping[str, Any] = field(default_factory=dict)   # step id -> value, None: skipped
    attempts: int = 0                   # failed answers to the current step
    paused: bool = False
    documents: tuple[int, ...] = ()     # the messages that carried the resident's documents
    trail: tuple[str, ...] = ()         # the steps answered, in order: where "back" goes

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "answers": dict(self.answers), "attempts": self.attempts,
                "paused": self.paused, "documents": list(self.documents),
                "trail": list(self.trail)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        return cls(step=data["step"], answers=dict(data.get("answers") or {}),
                   attempts=int(data.get("attempts") or 0), paused=bool(data.get("paused")),
                   documents=tuple(data.get("documents") or ()),
                   trail=tuple(data.get("trail") or ()))


@dataclass(frozen=True)
class Say:
    """One message of the bot: its text, and the answers offered (buttons where the channel
    has them, a numbered list elsewhere)."""
    text: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Turn:
    state: State
    says: tuple[Say, ...]
    outcome: str = CONTINUE
    reason: str | None = None       # why a handover happened, for the case's events


@dataclass(frozen=True)
class Answer:
    text: str
    attachments: int = 0
    message_id: int | None = None


@dataclass(frozen=True)
class Setting:
    """What a turn reads besides the state: the form, the deployment's services, the
    resident's language, today (for dates in the past) and the case's reference."""
    form: Form
    config: GuidedIntake
    language: str
    today: date
    reference: int
    name: str | None = None

    def text(self, key: str, **values: object) -> str:
        return self.form.text(key, self.language, **values)


def _choices(setting: Setting, step: Step) -> tuple[str, ...]:
    if step.kind == "consent":
        return (setting.text("consent_yes"), setting.text("consent_no"))
    if step.kind == "service":
        return tuple(s.label(setting.language) for s in setting.config.services)
    if step.kind == "choice":
        return tuple(setting.text(f"option.{o}") for o in step.options)
    if step.kind == "documents":
        return (setting.text("done_button"), setting.text("skip_button"))
    return ()


def _documents_wanted(setting: Setting, state: State) -> str:
    service = setting.config.service(state.answers.get("service") or "")
    ids = service.documents if service else tuple(d.id for d in setting.config.documents)
    labels = [d.label(setting.language) for i in ids
              if (d := setting.config.document(i)) is not None]
    return "; ".join(labels)


def prompt(setting: Setting, state: State) -> Say:
    """The question of the step the dialogue stands at."""
    step = setting.form.step(state.step)
    if step.kind == "consent":
        text = setting.text("consent")
    elif step.kind == "documents":
        text = setting.text("prompt.documents", documents=_documents_wanted(setting, state))
    else:
        text = setting.text(f"prompt.{step.id}")
    return Say(text, _choices(setting, step))


def start(setting: Setting) -> Turn:
    """The offer, what is collected and why, and the consent question."""
    state = State(step=setting.form.steps[0].id)
    name = f", {setting.name}" if setting.name else ""
    return Turn(state, (Say(setting.text("offer", name=name)), prompt(setting, state)))


def remind(setting: Setting, state: State) -> tuple[Say, ...]:
    return (Say(setting.text("reminder")), prompt(setting, state))


def handover(setting: Setting, state: State, reason: str) -> Turn:
    return Turn(state, (Say(setting.text("handed_over", reference=setting.reference)),),
                HANDOVER, reason)


def _next(setting: Setting, state: State, value: Any) -> Turn:
    """`value` kept for the current step; on to the next one, or complete after the last."""
    form = setting.form
    answers = {**state.answers, state.step: value}
    trail = (*state.trail, state.step)
    index = form.index(state.step) + 1
    if index >= len(form.steps):
        done = replace(state, answers=answers, attempts=0, trail=trail)
        return Turn(done, (Say(setting.text("complete", reference=setting.reference)),),
                    COMPLETE)
    moved = replace(state, step=form.steps[index].id, answers=answers, attempts=0, trail=trail)
    says = (Say(setting.text("help")),) if form.step(state.step).kind == "consent" else ()
    return Turn(moved, (*says, prompt(setting, moved)))


def _failed(setting: Setting, state: State, step: Step) -> Turn:
    attempts = state.attempts + 1
    failed = replace(state, attempts=attempts)
    if attempts >= setting.config.max_attempts:
        return handover(setting, failed, f"{attempts} failed answers to {step.id}")
    return Turn(failed, (Say(setting.text(f"error.{step.kind}")), prompt(setting, failed)))


def _read(setting: Setting, state: State, step: Step, answer: Answer) -> Turn:
    """The answer to a step of `step`'s kind: the next step, a correction, or (consent
    declined) a handover."""
    text = answer.text
    commands = setting.form.commands
    kind = step.kind
    if kind == "consent":
        choice = validators.choose(text, _choices(setting, step))
        if choice == 0 or validators.says(text, commands["yes"]):
            return _next(setting, state, True)
        if choice == 1 or validators.says(text, commands["no"]):
            return handover(setting, replace(state, answers={"consent": False}),
                            "consent declined")
        return _failed(setting, state, step)
    if kind == "documents":
        if answer.attachments and answer.message_id is not None:
            kept = replace(state, documents=(*state.documents, answer.message_id), attempts=0)
            return Turn(kept, (Say(setting.text("document_received",
                                                count=len(kept.documents)),
                                   _choices(setting, step)),))
        choice = validators.choose(text, _choices(setting, step))
        if choice == 0 or validators.says(text, commands["done"]):
            return _next(setting, state, len(state.documents))
        if choice == 1:
            return _next(setting, state, None)
        return _failed(setting, state, step)
    if kind in ("service", "choice"):
        choice = validators.choose(text, _choices(setting, step))
        if choice is None:
            return _failed(setting, state, step)
        ids = [s.id for s in setting.config.services] if kind == "service" else step.options
        return _next(setting, state, ids[choice])
    if kind == "past_date":
        value = validators.past_date(text, setting.today)
    else:
        value = validators.TEXT_KINDS[kind](text)
    return _failed(setting, state, step) if value is None else _next(setting, state, value)


def advance(setting: Setting, state: State, answer: Answer) -> Turn:
    """What one message of the resident does to the dialogue at `state`."""
    commands = setting.form.commands
    step = setting.form.step(state.step)
    text = answer.text or ""
    if validators.mentions(text, commands["human"]):
        return handover(setting, state, "the resident asked for an operator")
    if state.paused:
        resumed = replace(state, paused=False)
        return Turn(resumed, (Say(setting.text("resumed")), prompt(setting, resumed)))
    if not answer.attachments:
        if validators.says(text, commands["stop"]):
            return Turn(replace(state, paused=True), (Say(setting.text("paused")),), PAUSED)
        if validators.says(text, commands["back"]):
            if not state.trail or setting.form.step(state.trail[-1]).kind == "consent":
                return Turn(state, (prompt(setting, state),))
            back = replace(state, step=state.trail[-1], trail=state.trail[:-1], attempts=0)
            return Turn(back, (prompt(setting, back),))
        if validators.says(text, commands["skip"]) and step.kind != "consent":
            if not step.optional:
                return Turn(state, (Say(setting.text("not_optional")), prompt(setting, state)))
            return _next(setting, state, None)
    return _read(setting, state, step, answer)
