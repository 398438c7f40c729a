"""The one place that speaks HTTP to Spectora: the client, its errors, the rate limiter.

Nothing here imports the rest of the integration; the sync engine, inbound
and setup all call Spectora through ``SpectoraClient``.
"""

from spectora_integration.client.errors import (
    ExternalRefTaken,
    PermanentError,
    RateLimited,
    SpectoraError,
    TransientError,
)
from spectora_integration.client.http import (
    CallRecord,
    Inspection,
    Resource,
    SpectoraClient,
    parse_time,
)

__all__ = [
    "CallRecord", "ExternalRefTaken", "Inspection", "PermanentError", "RateLimited",
    "Resource", "SpectoraClient", "SpectoraError", "TransientError", "parse_time",
]
