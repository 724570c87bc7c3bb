"""ChatService: composes catalog, protocol rules, chat templates and engines into ChatEvents."""

from qwenchat.service.chat_service import ChatService, PreparedChat

__all__ = ["ChatService", "PreparedChat"]
