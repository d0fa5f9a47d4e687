"""Microsoft Graph mail simulator (v1.0 messages, delta, $batch, sendMail, subscriptions) + identity platform."""

from threadline.sandbox.graph.sandbox import GraphSandbox

__all__ = ["GraphSandbox"]
