"""Durable daemon state: active bans, ban history, log positions."""

from warden.store.memory import MemoryBanStore
from warden.store.model import (
    BanKey,
    BanStore,
    HistoryEntry,
    PositionData,
    StoredBan,
    TrustEntry,
)
from warden.store.sqlite import SqliteBanStore

__all__ = [
    "BanKey",
    "BanStore",
    "HistoryEntry",
    "MemoryBanStore",
    "PositionData",
    "SqliteBanStore",
    "StoredBan",
    "TrustEntry",
]
