"""Domain events: what changed, said once by the service that changed it.

A service never calls another capability to tell it about a change (the media cache,
the access generation, metrics, the webhook). It emits an event into its unit of work
(``app.core.uow``), which delivers it after the transaction commits and after every lock
is released; the capabilities that care subscribe in their ``init_app``. Events carry
ids and plain values, never ORM objects, so a subscriber reads what is committed.

Each event type has one blinker signal (``signal_for``), as Flask's own
``flask.signals`` does. A subscriber that fails is logged and counted
(``failed_deliveries``); it never undoes the change nor stops the other subscribers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from blinker import Namespace

log = logging.getLogger(__name__)

_signals = Namespace()


@dataclass(frozen=True)
class Event:
    """Base of every domain event; its class name is its signal's name."""


@dataclass(frozen=True)
class ImagesUploaded(Event):
    owner_id: str
    image_ids: tuple[uuid.UUID, ...]
    nbytes: int = 0


@dataclass(frozen=True)
class ImagesTrashed(Event):
    """Moved to the trash (one, many, or a user's whole library before deletion)."""

    image_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class ImagesRestored(Event):
    image_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class ImagesClaimed(Event):
    """Claimed for erasure: no longer restorable nor served; rows and objects go next.
    ``image_ids`` is empty when the claim was one statement over a condition."""

    claim_id: str
    image_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class ImagesReleased(Event):
    """A claim given up (the object store failed): back in the trash, restorable."""

    image_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class ImagesErased(Event):
    """Rows and objects gone for good (permanent delete, empty trash, purge, user deletion)."""

    image_ids: tuple[uuid.UUID, ...]
    nbytes: int = 0


@dataclass(frozen=True)
class UserChanged(Event):
    """Status, role, password or sign-in epoch changed: what this user may reach changed.
    ``change`` names it: deactivated, reactivated, role, password, deleting, ..."""

    user_id: str
    change: str


@dataclass(frozen=True)
class UserDeleted(Event):
    user_id: str


@dataclass(frozen=True)
class SessionsEnded(Event):
    """Server-side sessions ended (sign-out, revocation, password change, expiry sweep)."""

    user_id: str | None
    count: int


@dataclass(frozen=True)
class TokensRevoked(Event):
    user_id: str | None
    count: int


@dataclass(frozen=True)
class ShareLinksRevoked(Event):
    """Share links turned off by their owner or an admin: refused from now on."""

    image_id: uuid.UUID
    share_ids: tuple[str, ...]


@dataclass(frozen=True)
class InstallationAdopted(Event):
    """SQL and the user store were declared one installation: every decision may differ."""


#: Events after which a cached decision about who may see what may be wrong.
ACCESS_EVENTS: tuple[type[Event], ...] = (
    ImagesTrashed, ImagesRestored, ImagesClaimed, ImagesReleased, ImagesErased, UserChanged,
    UserDeleted, SessionsEnded, TokensRevoked, ShareLinksRevoked, InstallationAdopted)


def signal_for(kind: type[Event]):
    return _signals.signal(kind.__name__)


def subscribe(kinds: type[Event] | tuple[type[Event], ...],
              handler: Callable[[Event], None]) -> None:
    """Call ``handler(event)`` for every event of ``kinds`` delivered from now on.

    Held strongly (``weak=False``): subscribers are plain functions bound at start-up.
    A handler subscribed twice (one app factory per test) is called once.
    """
    for kind in (kinds if isinstance(kinds, tuple) else (kinds,)):
        signal_for(kind).connect(_Adapter.of(handler), weak=False)


_lock = threading.Lock()
failed_deliveries: Counter[str] = Counter()  # "Event:handler" -> failures, this process


def deliver(event: Event) -> None:
    """Hand ``event`` to its subscribers now. Only ``app.core.uow`` calls this, once the
    change is committed and no lock is held."""
    for receiver in signal_for(type(event)).receivers_for(None):
        try:
            receiver(None, event=event)
        except Exception:  # noqa: BLE001  (a subscriber never undoes the change)
            name = f"{type(event).__name__}:{getattr(receiver, '__name__', receiver)}"
            with _lock:
                failed_deliveries[name] += 1
            log.exception("event subscriber failed: %s", name)


class _Adapter:
    """blinker calls ``receiver(sender, **kwargs)``; subscribers take the event alone.
    One adapter per handler, so connecting the same handler twice is a no-op."""

    _made: dict[Callable, _Adapter] = {}

    def __init__(self, handler):
        self.handler = handler
        self.__name__ = getattr(handler, "__qualname__", repr(handler))

    @classmethod
    def of(cls, handler) -> _Adapter:
        with _lock:
            adapter = cls._made.get(handler)
            if adapter is None:
                adapter = cls._made[handler] = cls(handler)
            return adapter

    def __call__(self, _sender, *, event: Event) -> None:
        self.handler(event)
