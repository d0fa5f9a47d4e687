"""Sequences (`rules.sequences`): multi-step outreach as pure decisions — enrolment, stop rules,
scheduling into sending windows, mailbox caps and reporting. Sending lives in the outbox executor."""

from threadline.rules.sequences.caps import SendLimits, apply_mailbox_caps
from threadline.rules.sequences.config import Delay, EmailStep, SendingWindow, SequenceSettings, TaskStep
from threadline.rules.sequences.engine import Sequencer, compile_sequences
from threadline.rules.sequences.enrollment import Enrollment
from threadline.rules.sequences.silence import silence_event
from threadline.rules.sequences.steps import DueStep, step_key
from threadline.rules.sequences.stops import stop_reason

__all__ = [
    "Delay", "DueStep", "EmailStep", "Enrollment", "SendLimits", "SendingWindow", "SequenceSettings", "Sequencer",
    "TaskStep", "apply_mailbox_caps", "compile_sequences", "silence_event", "step_key", "stop_reason",
]
