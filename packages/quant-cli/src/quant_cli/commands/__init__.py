"""One module per command group; each exposes `build() -> typer.Typer` (or `register(app)`)."""
