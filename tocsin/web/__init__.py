"""Web routes that are not AWS operations: acknowledgement links, calendar feeds, the console.

Every module of this package that defines ``routes(runtime)`` contributes the
Starlette routes it returns. They are mounted ahead of the AWS endpoint, so
their paths must not collide with the path of any AWS operation.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from tocsin.app import Runtime


def all_routes(runtime: Runtime) -> list[BaseRoute]:
    """Return the routes of every module of this package, in module-name order."""
    from tocsin.web.console import console_routes

    routes: list[BaseRoute] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda found: found.name):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        make = getattr(loaded, "routes", None)
        if make is not None:
            routes.extend(make(runtime))
    # The console package finds the runtime on the application's state instead.
    routes.extend(console_routes())
    return routes
