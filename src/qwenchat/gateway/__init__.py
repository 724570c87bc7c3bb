"""API keys, rate limits and quotas, the usage ledger and metrics.

The public face of the package:

* :class:`Gateway` (one per server, built from the settings) and :class:`Ticket` (one per
  chat request): authenticate, route, admit, observe, then complete / fail / abandon;
  :class:`Budget` (the rate limits, quotas and in-flight caps a ticket is admitted against);
* :class:`KeyStore`, :class:`ApiKey`, :class:`NewKey`: key management (``qwenchat keys``);
* :func:`open_database`, :func:`usage_totals`, :func:`quota_status`, :func:`used_tokens`:
  the database and the ledger's reports (``qwenchat usage``);
* :class:`GatewayMetrics` and :data:`CONTENT_TYPE`: ``/metrics``.

It imports only :mod:`qwenchat.core`, :mod:`qwenchat.errors` and :mod:`qwenchat.settings`
(and SQLAlchemy, Alembic, redis and prometheus-client).
"""

from qwenchat.gateway.auth import AuthMode, is_loopback
from qwenchat.gateway.budget import Budget, RateLimits
from qwenchat.gateway.database import open_database
from qwenchat.gateway.gateway import Gateway
from qwenchat.gateway.keys import ApiKey, KeyStore, NewKey
from qwenchat.gateway.ledger import Ledger, UsageRow
from qwenchat.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from qwenchat.gateway.ticket import Ticket
from qwenchat.gateway.usage_report import (
    QuotaStatus,
    UsageTotal,
    quota_status,
    usage_totals,
    used_tokens,
)

__all__ = [
    "CONTENT_TYPE",
    "ApiKey",
    "AuthMode",
    "Budget",
    "Gateway",
    "GatewayMetrics",
    "KeyStore",
    "Ledger",
    "NewKey",
    "QuotaStatus",
    "RateLimits",
    "Ticket",
    "UsageRow",
    "UsageTotal",
    "is_loopback",
    "open_database",
    "quota_status",
    "usage_totals",
    "used_tokens",
]
