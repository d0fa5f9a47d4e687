"""Push: provider notifications that tell the daemon *what* to pull (Gmail Pub/Sub, Graph change notifications,
HubSpot webhooks) and the wakeups they raise. Cursors stay the source of truth, so a lost, repeated or reordered
notification costs at most a poll interval, never a message."""
