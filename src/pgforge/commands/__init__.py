"""Commands beyond generate/explain/profiles/detect, one module each. Every module defines
``register(app)`` and keeps its heavy imports inside the command functions.

Typer converts every parameter of every registered command when it starts, so ``main`` registers
only the module of the command being run (all of them for ``--help`` or an unknown word):
``pgforge generate`` does not pay for apply's twenty options.
"""

import importlib

COMMAND_MODULES: tuple[str, ...] = ("check", "apply", "terraform")
# Command name -> the module that registers it.
COMMANDS = {"check": "check", "rules": "check", "apply": "apply", "terraform": "terraform"}
CORE_COMMANDS = ("generate", "explain", "detect", "profiles")


def register_all(app) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"pgforge.commands.{name}").register(app)


def register_for(app, argv: list[str]) -> None:
    """Register what ``argv`` needs: nothing extra for a core command, one module for another."""
    word = next((a for a in argv if not a.startswith("-")), None)
    if word in CORE_COMMANDS:
        return
    if word in COMMANDS:
        importlib.import_module(f"pgforge.commands.{COMMANDS[word]}").register(app)
        return
    register_all(app)
