"""Simulated Salesforce (REST API + OAuth token endpoint) for tests, the demo and benchmarks.
Part of the sandbox: imports nothing of Threadline outside threadline.sandbox."""

from threadline.sandbox.salesforce.oauth import ConnectedApp, new_key_pair
from threadline.sandbox.salesforce.sandbox import SalesforceSandbox
from threadline.sandbox.salesforce.seeding import AppCredentials

__all__ = ["AppCredentials", "ConnectedApp", "SalesforceSandbox", "new_key_pair"]
