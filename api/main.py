"""The ASGI app uvicorn serves: ``uvicorn api.main:app`` (``./cli.sh serve-api`` runs it)."""

from api.app import create_app

app = create_app()
