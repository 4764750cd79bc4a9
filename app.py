"""ASGI entry point: ``uvicorn app:app`` (settings come from IVR_* environment variables).

``ivr serve`` needs no such file (it builds the app from the package); this one is for deployments that name an
ASGI module. A bad setting stops it with one line naming the variable, not a traceback.
"""

import sys

from pydantic import ValidationError

from ivr.api import create_app
from ivr.config import settings_error_line

try:
    app = create_app()
except ValidationError as exc:
    print(f"error: {settings_error_line(exc)}", file=sys.stderr)
    raise SystemExit(2) from None
