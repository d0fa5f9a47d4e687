"""Simulated HubSpot (CRM v3/v4) for tests, the demo and benchmarks.
Part of the sandbox: imports nothing of Threadline outside threadline.sandbox."""

from threadline.sandbox.hubspot.sandbox import HubSpotSandbox

__all__ = ["HubSpotSandbox"]
