"""replication rules (settings in postgresql.conf that the replication section of the spec drives)."""
