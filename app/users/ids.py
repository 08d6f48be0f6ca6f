"""The user id format (``uuid4().hex``, see ``UserRepository.insert``) as a URL converter.

Routes take ``<user_id:user_id>``: an id that cannot exist (too long, not hex) is a 404
before any view, lookup or audit write sees it.
"""

from __future__ import annotations

from werkzeug.routing import BaseConverter

USER_ID_PATTERN = "[0-9a-f]{32}"


class UserIdConverter(BaseConverter):
    regex = USER_ID_PATTERN
