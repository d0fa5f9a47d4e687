"""Microsoft Graph mail simulator (v1.0 messages, delta, $batch, sendMail, subscriptions) + identity platform.
Part of the sandbox: imports nothing of Threadline outside threadline.sandbox."""

from threadline.sandbox.graph.sandbox import GraphSandbox

__all__ = ["GraphSandbox"]
