"""Import of every module that declares tables, so that the metadata is complete.

Tables live in modules named ``models`` (or ending in ``_models``) anywhere in
the package, beside the engine's ``jobs`` and the idempotency records.
"""

import importlib
import pkgutil

import tocsin

EXTRA_TABLE_MODULES = ("tocsin.engine.jobs", "tocsin.protocol.idempotency")


def import_all() -> None:
    """Import every module that declares tables."""
    for module in pkgutil.walk_packages(tocsin.__path__, prefix="tocsin."):
        last = module.name.rsplit(".", 1)[-1]
        if (last == "models" and module.name != __name__) or last.endswith("_models"):
            importlib.import_module(module.name)
    for name in EXTRA_TABLE_MODULES:
        importlib.import_module(name)


import_all()
