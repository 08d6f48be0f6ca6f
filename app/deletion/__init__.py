"""The deletion plugin: ``@delete_endpoint``, its options and its registry."""

from app.deletion.decorator import CONFIRM_HEADER, delete_endpoint
from app.deletion.options import Options
from app.deletion.registry import delete_endpoints

__all__ = ["CONFIRM_HEADER", "Options", "delete_endpoint", "delete_endpoints"]
