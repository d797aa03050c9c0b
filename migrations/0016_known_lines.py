"""Known lines: the line keys of the file a district's copy of an entity was last read from,
with the records they gave (al_roster.models.known_lines), so a night's re-export is
recognised line by line. Kept out of line and uncompressed on PostgreSQL: the keys are
random bytes that pglz would only try to squeeze."""
from peewee import (
    BigIntegerField,
    BlobField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    SmallIntegerField,
)


def up(migrator, db):
    class District(Model):
        class Meta:
            database = db
            table_name = 'district'

    class KnownLines(Model):
        district = ForeignKeyField(District, on_delete='CASCADE')
        entity = CharField(max_length=32)
        run_id = IntegerField()
        header = BigIntegerField()
        seed = BigIntegerField()
        count = IntegerField()
        id_size = SmallIntegerField()
        keys = BlobField()
        ids = BlobField()
        written_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'roster_known_lines'
            indexes = ((('district', 'entity'), True),)

    db.create_tables([KnownLines])
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql('ALTER TABLE roster_known_lines ALTER COLUMN keys SET STORAGE EXTERNAL, '
                       'ALTER COLUMN ids SET STORAGE EXTERNAL')


def down(migrator, db):
    migrator.migrate(migrator.drop_table('roster_known_lines'))
