"""Everything Papelera reads from or writes to htmx headers lives here."""

from __future__ import annotations

from flask import Response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_full_page() -> bool:
    """Boosted navigation and history restores need the whole page, not a fragment."""
    return (
        not is_htmx()
        or request.headers.get("HX-Boosted") == "true"
        or request.headers.get("HX-History-Restore-Request") == "true"
    )


def render_page_or_block(template: str, block: str, **context) -> str:
    """One template serves the full page and its fragment, so they never drift."""
    if wants_full_page():
        return render_template(template, **context)
    return render_block(template, block, **context)


def render_block_of(template: str, block: str, **context) -> str:
    return render_block(template, block, **context)


def toast(message: str, level: str = "info", undo_url: str | None = None) -> str:
    """An out-of-band toast appended to the page's toast area."""
    return render_template("_toast.html", message=message, level=level, undo_url=undo_url,
                           oob=True)


def add_vary(response: Response) -> Response:
    if request.method in ("GET", "HEAD") and response.mimetype == "text/html":
        response.vary.add("HX-Request")
    return response


def redirect_header(location: str) -> dict:
    """Sends htmx to another page (a full navigation), whatever the status."""
    return {"HX-Redirect": location}


def to_toasts_headers() -> dict:
    """Puts the answer (a toast) in the toast area, whatever the element targeted."""
    return {"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"}


def trigger_header(event: str) -> dict:
    """Fires ``event`` on the page once the answer is swapped in."""
    return {"HX-Trigger": event}
