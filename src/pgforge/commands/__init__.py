"""Commands beyond generate/explain/profiles/detect, one module each. Every module defines
``register(app)`` and keeps its heavy imports inside the command functions, because all of them
are imported whenever ``pgforge`` starts."""

import importlib

COMMAND_MODULES: tuple[str, ...] = ("check", "apply", "terraform")


def register_all(app) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"pgforge.commands.{name}").register(app)
