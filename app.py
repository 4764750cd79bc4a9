"""ASGI entry point: ``uvicorn app:app`` (settings come from IVR_* environment variables)."""

from ivr.api import create_app

app = create_app()
