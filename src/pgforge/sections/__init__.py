"""The optional sections of a host spec, one module each (pgbouncer, access, replication,
archive, backup), so each part of the bundle owns its own input model."""
