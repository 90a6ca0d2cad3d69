"""The mutation catalog: the mutations a worker registered, and their stale strategies."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from mutator.models import OnStale
from mutator.store.database import Database
from mutator.store.schema import mutation_catalog


class Catalog:
    """The registered mutations, read and written through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write the catalog through ``db``."""
        self._db = db

    def register_mutations(self, on_stale_by_name: dict[str, OnStale]) -> None:
        """Replace the catalog by these mutations (name: on_stale strategy)."""
        with self._db.write("register mutations") as conn:
            conn.execute(mutation_catalog.delete())
            if on_stale_by_name:
                conn.execute(
                    insert(mutation_catalog),
                    [
                        {"name": n, "on_stale": s, "registered_at": datetime.now(UTC)}
                        for n, s in on_stale_by_name.items()
                    ],
                )

    def registered_mutations(self) -> list[str]:
        """The names of the registered mutations, sorted."""
        with self._db.connect("read the registered mutations") as conn:
            return sorted(conn.scalars(select(mutation_catalog.c.name)))
