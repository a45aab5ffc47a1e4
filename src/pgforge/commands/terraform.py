"""``pgforge terraform``: the program behind a Terraform ``external`` data source (see pgforge.terraform)."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("terraform")
    def terraform_cmd() -> None:
        """Read the external data source's JSON query on stdin, print the tuned settings as one flat JSON object."""
        from pgforge.terraform import run

        code, out, err = run(sys.stdin.read())
        if out:
            sys.stdout.write(out)
        if err:
            sys.stderr.write(err)
        raise typer.Exit(code)
