"""Adapters: one folder per provider (HubSpot, Salesforce, Gmail, Outlook, IMAP, SMTP) behind the small protocols
in protocols.py and sending.py, plus the one place for HTTP, retries and rate limits. Adapters translate and
hold no business logic: they import nothing of Threadline but crashpoints, and no provider imports another."""
