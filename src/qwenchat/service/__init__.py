"""ChatService: composes catalog, protocol rules, chat templates, engines and upstreams into
ChatEvents."""

from qwenchat.service.chat_service import ChatService, LocalChat
from qwenchat.service.prepared import PreparedChat

__all__ = ["ChatService", "LocalChat", "PreparedChat"]
