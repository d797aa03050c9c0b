"""Roster events: the ordered feed of what changed in imported classes, their members and
accounts (al_roster.models.events), written in the transaction of the change."""
from peewee import (
    BigAutoField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def up(migrator, db):
    class District(Model):
        class Meta:
            database = db
            table_name = 'district'

    class RosterEvent(Model):
        id = BigAutoField()
        district = ForeignKeyField(District, on_delete='CASCADE')
        kind = CharField(max_length=32)
        imported_class_id = IntegerField(null=True)
        class_sourced_id = TextField(null=True)
        user_sourced_id = TextField(null=True)
        account_id = IntegerField(null=True)
        run_id = IntegerField(null=True)
        request_id = CharField(max_length=32, null=True)
        at = DateTimeField()
        payload = TextField(null=True)

        class Meta:
            database = db
            table_name = 'roster_event'
            indexes = ((('district', 'id'), False), (('at',), False))

    db.create_tables([RosterEvent])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('roster_event'))
