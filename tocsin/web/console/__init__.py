"""The web console under /console/: sign-in, sessions and the incident pages.

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
    from tocsin.web.console import auth, incidents

    routes = auth.routes()
    routes.extend(incidents.routes())
    routes.extend(auth.fallback_routes())
    for route in routes:
        if isinstance(route, Route | Mount):
            route.app = SecurityHeaders(route.app)
    return routes
