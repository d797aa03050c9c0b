"""Accounts remember whether the roster names them a district administrator: a teacher who
also administers the district keeps teaching and sees the console."""
from peewee import BooleanField


def up(migrator, db):
    migrator.migrate(migrator.add_column('account', 'roster_admin', BooleanField(default=False)))
    db.execute_sql("UPDATE account SET roster_admin = TRUE WHERE role = 'administrator'")


def down(migrator, db):
    migrator.migrate(migrator.drop_column('account', 'roster_admin'))
