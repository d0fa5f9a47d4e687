"""Sequences (`rules.sequences`): multi-step outreach. Pure decisions (enrolment, stop rules, scheduling into
sending windows, mailbox caps), the store-backed runner, sends and plan beside them, templates/ and reporting/.
The engine's send executor performs the sends and asks send_check.py before each one. May use the shared rule
language, the rules' store access and the engine below; independent of scoring and assignment."""

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
