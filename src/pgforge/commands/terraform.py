"""``pgforge terraform``: the program behind a Terraform ``external`` data source (see pgforge.terraform)."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("terraform")
    def terraform_cmd() -> None:
        """Read the external data source's JSON query on stdin, print the tuned settings as one flat JSON object."""
        from pgforge.errors import UserError
        from pgforge.inputs import read_stdin
        from pgforge.terraform import run

        try:
            query = read_stdin("query")  # bounded: stdin from /dev/zero ends in a message, not MemoryError
        except UserError as exc:
            sys.stderr.write(f"pgforge: error: {exc}\n")
            raise typer.Exit(2) from None
        code, out, err = run(query)
        if out:
            sys.stdout.write(out)
        if err:
            sys.stderr.write(err)
        raise typer.Exit(code)
