"""The service: routes each chat request to the backend serving its model id — this
process's llama.cpp engines (``LocalBackend``) or upstream replicas (``UpstreamBackend``) —
which turns it into ChatEvents.

``ChatService`` is the router (``chat_service.py``); ``Backend`` the protocol every backend,
test double and benchmark stand-in implements (``backend.py``); ``PreparedChat`` what opening
a request gives (``prepared.py``).
"""

from qwenchat.service.backend import (
    Admit,
    Backend,
    BackendStatus,
    RoutedChat,
    max_output_tokens,
)
from qwenchat.service.chat_service import ChatService
from qwenchat.service.local_backend import LocalBackend, LocalChat
from qwenchat.service.prepared import PreparedChat
from qwenchat.service.upstream_backend import UpstreamBackend

__all__ = [
    "Admit",
    "Backend",
    "BackendStatus",
    "ChatService",
    "LocalBackend",
    "LocalChat",
    "PreparedChat",
    "RoutedChat",
    "UpstreamBackend",
    "max_output_tokens",
]
