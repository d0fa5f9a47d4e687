"""Real servers the tests start on loopback (Dovecot IMAP, a tiny OAuth2 token endpoint)."""
