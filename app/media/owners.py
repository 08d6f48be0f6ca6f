"""Whether an image's owner still stands behind its share links (issue 18, item 12).

A share link serves only while its owner's account is active: deactivating or deleting
an account stops every link it made at once (SPEC section 8; the answer is 404, as for
an image that is gone). The owner's status is read from the user store once and kept per
process in the access cache (``app.core.access_cache``); ``UserChanged`` and
``UserDeleted`` are access events, so the change moves the shared generation and every
process reads the status again on its next share-link request.
"""

from __future__ import annotations

from app.core import access_cache
from app.users.repository import get_users


def owner_is_active(owner_id: str) -> bool:
    """True while the account ``owner_id`` exists and is active."""
    return access_cache.remember(("owner-active", str(owner_id)),
                                 lambda: _read_active(owner_id))


def _read_active(owner_id: str) -> bool:
    user = get_users().get(str(owner_id))
    return user is not None and user.is_active
