"""District OneRoster admins granted by hand, beside those the roster names."""
from peewee import BooleanField


def up(migrator, db):
    migrator.migrate(migrator.add_column('account', 'district_admin', BooleanField(default=False)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('account', 'district_admin'))
