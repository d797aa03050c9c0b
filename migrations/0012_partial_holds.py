"""Holding only what is risky: per-district guard settings (school and term share, mass
update share, whole-run holds, removal grace) and, on every roster row, since which run and
for how many runs a bulk file has lacked it."""
from peewee import BooleanField, FloatField, IntegerField

ROSTER_TABLES = ("roster_orgs", "roster_academic_sessions", "roster_courses", "roster_classes",
                 "roster_users", "roster_roles", "roster_enrollments")


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('district', 'scope_threshold', FloatField(default=0.25)),
        migrator.add_column('district', 'update_threshold', FloatField(default=0.5)),
        migrator.add_column('district', 'hold_whole_runs', BooleanField(default=False)),
        migrator.add_column('district', 'removal_grace_runs', IntegerField(default=0)),
    )
    for table in ROSTER_TABLES:
        migrator.migrate(
            migrator.add_column(table, 'missing_since_run_id', IntegerField(null=True)),
            migrator.add_column(table, 'missing_runs', IntegerField(null=True)),
        )


def down(migrator, db):
    for table in ROSTER_TABLES:
        migrator.migrate(migrator.drop_column(table, 'missing_runs'),
                         migrator.drop_column(table, 'missing_since_run_id'))
    migrator.migrate(
        migrator.drop_column('district', 'removal_grace_runs'),
        migrator.drop_column('district', 'hold_whole_runs'),
        migrator.drop_column('district', 'update_threshold'),
        migrator.drop_column('district', 'scope_threshold'),
    )
