"""Pulling mailboxes: ingest.py reads one mailbox page by page, decides per message, records intents and advances
the cursor atomically per page; guard.py lets one caller at a time use a mailbox adapter; found.py keeps the
mailboxes found from the CRM's owners, shared by every replica."""
