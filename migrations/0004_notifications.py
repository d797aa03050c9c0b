"""When the district's contacts and support were told about a held or failed run."""
from peewee import DateTimeField


def up(migrator, db):
    migrator.migrate(migrator.add_column('sync_run', 'notified_at', DateTimeField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('sync_run', 'notified_at'))
