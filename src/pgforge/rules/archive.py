"""archive rules (settings in postgresql.conf that the archive section of the spec drives)."""
