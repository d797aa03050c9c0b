"""Indexes so a delta reads its own rows, not the whole district: for the nightly
reconciliation's look at the people a run touched (the enrollments and users a run changed,
the enrollments that begin or end on a given day), and for the per-school guard's count of
present enrollments by school and class, read from the index alone."""
from playhouse.migrate import make_index_name

INDEXES = (("roster_enrollments", ("district_id", "last_run_id")),
           ("roster_enrollments", ("district_id", "begin_date")),
           ("roster_enrollments", ("district_id", "end_date")),
           ("roster_enrollments", ("district_id", "school_sourced_id", "class_sourced_id",
                                   "removed_run_id")),
           ("roster_users", ("district_id", "last_run_id")))


def up(migrator, db):
    for table, columns in INDEXES:
        migrator.migrate(migrator.add_index(table, columns, False))


def down(migrator, db):
    for table, columns in INDEXES:
        migrator.migrate(migrator.drop_index(table, make_index_name(table, columns)))
