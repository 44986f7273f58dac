"""The web console under /console/: sign-in, sessions and the pages.

``console_routes()`` returns every console route. The routes find the
runtime and the dispatcher at ``request.app.state``, which ``create_app``
fills, so they take no arguments. Modules here import the web framework, so
the package imports them only when the routes are built.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from tocsin.web.console.headers import SecurityHeaders


def console_routes() -> list[BaseRoute]:
    """Return the sign-in routes, the pages' routes and the not-found fallback.

    Every route's responses carry the console's security headers.
    """
    from tocsin.web.console import (
        auth,
        contact_pages,
        incidents,
        outbox_page,
        plan_pages,
        schedule_pages,
        sharing_pages,
    )

    routes = auth.routes()
    routes.extend(incidents.routes())
    routes.extend(schedule_pages.routes())
    routes.extend(sharing_pages.routes())
    routes.extend(outbox_page.routes())
    routes.extend(plan_pages.routes() + contact_pages.routes())
    routes.extend(auth.fallback_routes())
    for route in routes:
        if isinstance(route, Route | Mount):
            route.app = SecurityHeaders(route.app)
    return routes
