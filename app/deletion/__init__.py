"""The deletion plugin: ``@delete_endpoint``, its declaration, options, pipeline and
registry."""

from app.deletion.decorator import CONFIRM_HEADER, delete_endpoint
from app.deletion.options import Options
from app.deletion.registry import EndpointSpec, delete_endpoints

__all__ = ["CONFIRM_HEADER", "EndpointSpec", "Options", "delete_endpoint", "delete_endpoints"]
