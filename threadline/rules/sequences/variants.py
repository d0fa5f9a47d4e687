"""Step-level A/B tests: which variant an enrolment gets, and what that variant changes.

The choice is a hash of (sequence, contact, generation, step) mapped onto the variants' weights, so a restart, a
second replica or a replay picks the same variant without asking the store. It is recorded on the enrolment all
the same (``Enrollment.variants``): ending a test with ``winner`` then moves only enrolments that have no variant
yet, and those already on one finish on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from threadline.rules.sequences.config import Delay, EmailStep, TaskStep, Variant
from threadline.rules.sequences.enrollment import Enrollment

_SCALE = float(1 << 64)


def pick(variants: Sequence[Variant], sequence: str, contact_id: str, generation: int, step: int) -> str:
    """The weighted, deterministic choice for one enrolment (``variants`` must not be empty)."""
    digest = hashlib.sha256("\x1f".join((sequence, contact_id, str(generation), str(step))).encode()).digest()
    point = int.from_bytes(digest[:8], "big") / _SCALE * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant.name
    return variants[-1].name


def recorded(enrollment: Enrollment, step: int) -> str | None:
    """The variant recorded for ``step`` on this enrolment, if any."""
    return dict(enrollment.variants).get(step)


def choose(enrollment: Enrollment, step_index: int, step: EmailStep | TaskStep) -> str | None:
    """The variant this enrolment runs at ``step_index``: the recorded one, else the winner, else the hash pick;
    None when the step has no test."""
    if not step.variants:
        return None
    return recorded(enrollment, step_index) or step.winner or pick(
        step.variants, enrollment.sequence, enrollment.contact_id, enrollment.generation, step_index)


def assign_all(enrollment: Enrollment, steps: Sequence[EmailStep | TaskStep]) -> Enrollment:
    """The enrolment with a variant recorded for every step still ahead of it (its current one included) that
    has a test and none recorded yet. A step it has passed gets none: its email went out before the test existed,
    and the report would otherwise credit it to a variant it never ran."""
    chosen = dict(enrollment.variants)
    for index, step in enumerate(steps):
        if index >= enrollment.step and step.variants and index not in chosen:
            chosen[index] = choose(enrollment, index, step) or ""
    found = tuple(sorted(chosen.items()))
    return enrollment if found == enrollment.variants else replace(enrollment, variants=found)


def variant_named(step: EmailStep | TaskStep, name: str | None) -> Variant | None:
    """The configured variant called ``name`` (None: no test, or the variant was removed from the config; the
    step's own subject, body and delay then apply)."""
    return next((variant for variant in step.variants if variant.name == name), None)


def subject_of(step: EmailStep | TaskStep, variant: Variant | None) -> str:
    return variant.subject if variant is not None and variant.subject is not None else step.subject


def body_of(step: EmailStep | TaskStep, variant: Variant | None) -> str:
    return variant.body if variant is not None and variant.body is not None else step.body


def delay_of(step: EmailStep | TaskStep, variant: Variant | None) -> Delay:
    return variant.delay if variant is not None and variant.delay is not None else step.delay
