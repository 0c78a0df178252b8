"""Invoke front end: `invoke --list` shows everything.

Each module holds one concern's tasks; the `db` namespace gathers the lifecycle and
the schema tasks. Nothing heavy is imported at module level, so `invoke --list`
stays fast: tasks import the devdb library when they run.
"""

from invoke import Collection

from tasks import (
    db_data,
    db_extension,
    db_lifecycle,
    db_migrations,
    db_schema,
    db_snapshots,
    doctor,
    image,
)

db = Collection("db")
for module in (
    db_lifecycle,
    db_migrations,
    db_schema,
    db_extension,
    db_data,
    db_snapshots,
):
    for task in Collection.from_module(module).tasks.values():
        db.add_task(task, default=task.name == "up")

namespace = Collection(db, Collection.from_module(image, name="image"))
namespace.add_task(doctor.doctor)
