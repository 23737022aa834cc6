"""The intake's form as data: its steps in order, the words residents may use as commands,
and every text in az, ru and en, read from templates/intake/form.yaml and checked once (a
step kind no validator knows, or a text missing in a language, stops the process at start)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from inbox.guided_intake.validators import KINDS
from inbox.replies import TEMPLATES_DIR
from inbox.texts import Catalogue, check_entries, fill

FORM_PATH = TEMPLATES_DIR / "intake" / "form.yaml"
COMMANDS = ("human", "back", "skip", "stop", "done", "yes", "no")


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    optional: bool = False
    options: tuple[str, ...] = ()     # a `choice` step's option ids (texts `option.<id>`)


@dataclass(frozen=True)
class Form:
    steps: tuple[Step, ...]
    commands: dict[str, tuple[str, ...]]   # command -> its words, lower-case
    texts: Catalogue

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

    def text(self, key: str, language: str, **values: object) -> str:
        return fill(self.texts[language][key], values)


def parse_form(document: object, source: str, kinds: frozenset[str]) -> Form:
    """The form in `document` (form.yaml's content), or ValueError naming what is wrong."""
    if not isinstance(document, dict):
        raise ValueError(f"{source}: expected a mapping")
    problems: list[str] = []
    steps = []
    for i, raw in enumerate(document.get("steps") or []):
        step = Step(id=str(raw.get("id")), kind=str(raw.get("kind")),
                    optional=bool(raw.get("optional", False)),
                    options=tuple(raw.get("options") or ()))
        if step.kind not in kinds:
            problems.append(f"steps[{i}].kind {step.kind!r} is not one of {sorted(kinds)}")
        steps.append(step)
    if not steps or steps[0].kind != "consent":
        problems.append("the first step must be the consent (kind: consent)")
    commands = {name: tuple(str(w).casefold() for w in (document.get("commands") or {})
                            .get(name) or ()) for name in COMMANDS}
    problems += [f"commands.{name} has no words" for name, words in commands.items()
                 if not words]
    try:
        texts = check_entries(document.get("texts"), source)
    except ValueError as exc:
        raise ValueError("; ".join([str(exc), *problems])) from None
    needed = {f"prompt.{s.id}" for s in steps if s.kind != "consent"}
    needed |= {f"error.{s.kind}" for s in steps}
    needed |= {f"option.{o}" for s in steps for o in s.options}
    problems += [f"texts.{key} is missing" for key in sorted(needed - set(texts["en"]))]
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return Form(tuple(steps), commands, texts)


@lru_cache(maxsize=1)
def load_form(path: Path = FORM_PATH) -> Form:
    return parse_form(yaml.safe_load(path.read_text(encoding="utf-8")), str(path), KINDS)
