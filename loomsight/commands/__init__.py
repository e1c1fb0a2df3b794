"""The CLI verbs, one module each; `loomsight.cli` assembles them into one Typer app."""
