"""Local simulators of HubSpot, Salesforce, Gmail (with Pub/Sub) and Microsoft Graph, with their OAuth endpoints,
under the providers' real paths, for the demo, tests and benchmarks. Stands apart: it imports nothing of
Threadline's own code (it must not know its client)."""
