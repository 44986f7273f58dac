"""Write a new Alembic migration from the difference between the models and the schema.

Usage: .venv/bin/python scripts/new_migration.py "short description"

The schema is built from the existing migrations in a scratch SQLite
database, so the result needs no running server; review the generated file
before committing it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from tocsin.store.database import MIGRATIONS, Database


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as scratch:
        database = Database(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        heads = ScriptDirectory.from_config(config).get_heads()
        if heads:
            database.migrate()
        number = len(list(ScriptDirectory.from_config(config).walk_revisions())) + 1
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=sys.argv[1], autogenerate=True, rev_id=f"{number:04d}")
        database.dispose()


if __name__ == "__main__":
    main()
