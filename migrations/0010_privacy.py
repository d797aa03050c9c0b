"""Privacy: an audit record of each district purged (or handed its data), and, on each run,
when the clean-up removed its details and blanked the personal fields of its tombstones."""
from peewee import CharField, DateTimeField, Model, TextField


def up(migrator, db):
    class PrivacyAudit(Model):
        action = CharField(max_length=16)
        district_slug = CharField(max_length=64)
        by = TextField(null=True)
        at = DateTimeField()
        counts = TextField(null=True)

        class Meta:
            database = db
            table_name = 'privacy_audit'

    db.create_tables([PrivacyAudit])
    migrator.migrate(
        migrator.add_column('sync_run', 'details_removed_at', DateTimeField(null=True)),
        migrator.add_column('sync_run', 'tombstones_blanked_at', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('sync_run', 'tombstones_blanked_at'),
        migrator.drop_column('sync_run', 'details_removed_at'),
        migrator.drop_table('privacy_audit'),
    )
