"""``python -m practica.cli``: the ``practica`` command, where its script is not installed."""

from practica.cli import app

app()
