"""modelreg_ui: the web dashboard, an ASGI app that reads the registry through the SDK.

It is one more client of the public gRPC API (an ``AsyncClient`` per API key), so it
needs no database credentials and shows exactly what any client would see. It imports
the SDK (``modelreg``) and its web stack (Starlette, Jinja2, uvicorn), never the
server (``tests/test_layering.py``).

    modelreg ui --target 127.0.0.1:50051 --listen 127.0.0.1:8080
"""

from modelreg_ui.app import create_app
from modelreg_ui.settings import UiSettings

__all__ = ["UiSettings", "create_app"]
