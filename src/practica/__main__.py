"""``python -m practica``: the ``practica`` command, where its script is not installed."""

from practica.cli import app

app()
