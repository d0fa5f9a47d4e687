"""Threadline: replies from reps' mailboxes land on CRM contact records; rules run inside the CRM."""

__version__ = "0.1.0"
