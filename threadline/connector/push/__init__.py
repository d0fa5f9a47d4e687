"""Push: provider notifications that tell the daemon *what* to pull. Cursors stay the source of truth,
so a lost, repeated or reordered notification changes nothing; polling catches up after any gap."""
