"""ssl rules (settings in postgresql.conf that the ssl section of the spec drives)."""
