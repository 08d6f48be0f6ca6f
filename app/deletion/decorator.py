"""``@delete_endpoint``: the one way Papelera declares a destructive route.

    @api.delete("/images/<uuid:image_id>")
    @delete_endpoint(resource="image", description="Move an image to the trash",
                     load=load_image_for, preview=preview_image_deletion)
    def delete_image(target, options): ...

The declaration is an ``EndpointSpec`` (``app.deletion.registry``: every field is
documented there), given as keywords, or as a spec plus the keywords that differ. Each
request runs the pipeline of named steps in ``app.deletion.pipeline`` (SPEC section 4's
order of checks, the audit discipline). The view is called as ``view(target, options)``
and returns ``(body, audit_details)``, or ``(body, audit_details, outcome)`` when the
outcome is not ``ok``.

The plug-in knows no resource: images and users plug in through ``load``, ``protect``
and ``preview``; capabilities add checks through ``app.core.guards``.
"""

from __future__ import annotations

import functools

from app.deletion.pipeline import CONFIRM_HEADER, DeleteRequest
from app.deletion.registry import EndpointSpec

__all__ = ["CONFIRM_HEADER", "delete_endpoint"]


def delete_endpoint(spec: EndpointSpec | None = None, /, **declared):
    """Declare a destructive endpoint (see ``EndpointSpec`` for the fields)."""
    spec = EndpointSpec.declare(spec, **declared)

    def decorate(view):
        @functools.wraps(view)
        def delete_endpoint_view(**view_args):
            return DeleteRequest(spec, view, view_args).dispatch()

        delete_endpoint_view.delete_endpoint = spec
        return delete_endpoint_view

    return decorate
