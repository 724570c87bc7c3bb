"""The HTTP layer: the only package that imports the web framework."""

from qwenchat.api.app import create_app
from qwenchat.api.server import serve_forever

__all__ = ["create_app", "serve_forever"]
