"""Simulated HubSpot (CRM v3/v4) for tests, the demo and benchmarks."""

from threadline.sandbox.hubspot.sandbox import HubSpotSandbox

__all__ = ["HubSpotSandbox"]
