"""Output formats of an audit, one module each: text, json, sarif, github."""

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, outcome, checks) -> str:
    import importlib

    return importlib.import_module(f"pgforge.audit.report.{fmt}").render(outcome, checks)
