"""``python -m practica``: the ``practica`` command, where its script is not installed."""

from practica.cli import app

# Guarded: a worker process the processes executor spawns imports this module again, and must not run the CLI.
if __name__ == "__main__":
    app()
