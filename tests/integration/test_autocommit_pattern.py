"""The template's autocommit_block() pattern on a real server with seeded data.

The offline images are Apache-only builds, so the non-transactional step proven
here is the one Apache TimescaleDB has: an index built WITH
(timescaledb.transaction_per_chunk) on a hypertable with chunks. The same
revision written naively (inside the transaction) fails, and db.lint says so first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devdb.database import connect
from devdb.errors import DevDbError
from devdb.lint import run as lint
from devdb.schema import migrations
from devdb.seed import load as seed
from devdb.settings import PROJECT_ROOT, Settings, load_settings

PER_CHUNK_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_autocommit_price ON tick_data (price) "
    "WITH (timescaledb.transaction_per_chunk)"
)


@pytest.fixture(scope="module")
def seeded(devdb_module_database) -> Settings:
    """A database at head for the module (a clone of the template), seeded."""
    seed.seed_database(devdb_module_database.settings, profile="smoke")
    return devdb_module_database.settings


def project_with(tmp_path: Path, upgrade_body: str) -> Path:
    """A copy of backend/ and db/ with one revision on top of head."""
    for name in ("backend", "db"):
        shutil.copytree(
            PROJECT_ROOT / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    versions = tmp_path / "backend" / "alembic" / "versions"
    head = sorted(p.stem.split("_")[0] for p in versions.glob("*.py"))[-1]
    (versions / "zz_autocommit.py").write_text(
        '"""zz_autocommit"""\nfrom alembic import op\n\nrevision = "zz_autocommit"\n'
        f'down_revision = "{head}"\n\n\ndef upgrade() -> None:\n{upgrade_body}\n\n'
        "def downgrade() -> None:\n"
        '    op.execute("DROP INDEX IF EXISTS ix_autocommit_price")\n',
        encoding="utf-8",
    )
    return tmp_path


def index_exists(settings: Settings) -> bool:
    with connect(settings) as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_autocommit_price'"
            ).scalar()
        )


def test_per_chunk_index_in_an_autocommit_block_goes_up_and_down(seeded, tmp_path):
    root = project_with(
        tmp_path,
        "    with op.get_context().autocommit_block():\n"
        f"        op.execute({PER_CHUNK_INDEX!r})\n",
    )
    assert [
        f
        for f in lint.lint_revisions(
            load_settings({}, project_root=root), include_released=True
        )[1]
        if "zz_autocommit" in f.path
    ] == []
    script = str(root / "backend" / "alembic")
    before = seed.table_checksums(seeded)
    migrations.run_command(seeded, "upgrade", "head", script_location=script)
    assert index_exists(seeded)
    migrations.run_command(seeded, "downgrade", "-1", script_location=script)
    assert not index_exists(seeded)
    assert seed.table_checksums(seeded) == before


def test_the_naive_revision_fails_on_the_server_and_lint_names_it(seeded, tmp_path):
    root = project_with(tmp_path, f"    op.execute({PER_CHUNK_INDEX!r})\n")
    findings = lint.lint_revisions(
        load_settings({}, project_root=root), include_released=True
    )[1]
    flagged = [
        f for f in findings if f.rule == "timescaledb-per-chunk-index-in-transaction"
    ]
    assert len(flagged) == 1 and flagged[0].path.endswith("zz_autocommit.py")
    script = str(root / "backend" / "alembic")
    with pytest.raises(DevDbError, match="a migration failed"):
        migrations.run_command(seeded, "upgrade", "head", script_location=script)
    assert not index_exists(seeded)
