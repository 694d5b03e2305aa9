"""``python -m codehunt`` runs the CLI."""
from codehunt.cli import app

app()
