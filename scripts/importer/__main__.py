"""``python -m scripts.importer``: see `scripts.importer.cli`."""

from .cli import app

app(prog_name="python -m scripts.importer")
