"""pgforge: compute, write and audit a coherent PostgreSQL configuration bundle."""

__version__ = "0.1.0"
