"""Districts, sync runs, the roster copy, accounts and imported classes."""
from peewee import *

#: The roster copy as it was first shipped: per table, its OneRoster columns (T text,
#: B boolean, D date) and the lookup indexes beyond (district_id, sourced_id).
ROSTER_TABLES = {
    "roster_orgs": ("name T, type T, identifier T, parent_sourced_id T", ()),
    "roster_academic_sessions": (
        "title T, type T, start_date D, end_date D, parent_sourced_id T, school_year T", ()),
    "roster_courses": ("school_year_sourced_id T, title T, course_code T, grades T, "
                       "org_sourced_id T, subjects T, subject_codes T", ()),
    "roster_classes": ("title T, grades T, course_sourced_id T, class_code T, class_type T, "
                       "location T, school_sourced_id T, term_sourced_ids T, subjects T, "
                       "subject_codes T, periods T", ()),
    "roster_users": ("enabled_user B, org_sourced_ids T, role T, username T, user_ids T, "
                     "given_name T, family_name T, middle_name T, identifier T, email T, sms T, "
                     "phone T, agent_sourced_ids T, grades T, user_master_identifier T, "
                     "preferred_given_name T, preferred_middle_name T, preferred_family_name T, "
                     "primary_org_sourced_id T, pronouns T", (("district_id", "username"),)),
    "roster_roles": ("user_sourced_id T, role_type T, role T, begin_date D, end_date D, "
                     "org_sourced_id T, user_profile_sourced_id T",
                     (("district_id", "user_sourced_id"),)),
    "roster_enrollments": ("class_sourced_id T, school_sourced_id T, user_sourced_id T, role T, "
                           "primary B, begin_date D, end_date D",
                           (("district_id", "class_sourced_id"), ("district_id", "user_sourced_id"))),
}
FIELD = {"T": TextField, "B": BooleanField, "D": DateField}


def roster_model(db, table, columns, lookups):
    attrs = {
        "district_id": IntegerField(), "sourced_id": TextField(),
        "date_last_modified": TextField(null=True), "extra": TextField(null=True),
        "row_hash": BigIntegerField(), "first_run_id": IntegerField(),
        "last_run_id": IntegerField(), "removed_run_id": IntegerField(null=True),
    }
    for column in columns.split(", "):
        name, kind = column.split()
        attrs[name] = FIELD[kind](null=True)
    indexes = ((("district_id", "sourced_id"), True),) + tuple((cols, False) for cols in lookups)
    attrs["Meta"] = type("Meta", (), {"database": db, "table_name": table, "indexes": indexes})
    return type(table, (Model,), attrs)


def up(migrator, db):
    db.create_tables([roster_model(db, t, *spec) for t, spec in ROSTER_TABLES.items()])

    class District(Model):
        slug = CharField(unique=True, max_length=64)
        name = TextField()
        classlink_tenant_id = CharField(unique=True, null=True, max_length=64)
        plan = CharField(max_length=16, default='basic')
        rostering_enabled = BooleanField(default=False)
        deletion_threshold = FloatField(default=0.1)
        source_kind = CharField(max_length=32, default='none')
        source_config = TextField(null=True)
        contacts = TextField(null=True)
        timezone = CharField(max_length=64, default='America/New_York')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'district'
    db.create_tables([District])

    class Account(Model):
        district = ForeignKeyField(District, on_delete='CASCADE')
        sourced_id = TextField()
        classlink_user_id = CharField(null=True, max_length=64)
        role = CharField(max_length=32)
        given_name = TextField(null=True)
        family_name = TextField(null=True)
        email = TextField(null=True)
        username = TextField(null=True)
        is_staff = BooleanField(default=False)
        created_at = DateTimeField()
        last_login_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'account'
            indexes = ((('district', 'sourced_id'), True), (('district', 'classlink_user_id'), True))
    db.create_tables([Account])

    class AccountEvent(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        kind = CharField(max_length=32)
        detail = TextField(null=True)
        at = DateTimeField()
        class Meta:
            database = db
            table_name = 'account_event'
    db.create_tables([AccountEvent])

    class ImportedClass(Model):
        district = ForeignKeyField(District, on_delete='CASCADE')
        sourced_id = TextField()
        title = TextField()
        status = CharField(max_length=16, default='active')
        imported_by = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        archived_at = DateTimeField(null=True)
        archived_run_id = IntegerField(null=True)
        class Meta:
            database = db
            table_name = 'imported_class'
            indexes = ((('district', 'sourced_id'), True),)
    db.create_tables([ImportedClass])

    class Membership(Model):
        imported_class = ForeignKeyField(ImportedClass, on_delete='CASCADE')
        district_id = IntegerField()
        user_sourced_id = TextField()
        role = CharField(max_length=16)
        added_at = DateTimeField()
        added_run_id = IntegerField(null=True)
        removed_at = DateTimeField(null=True)
        removed_run_id = IntegerField(null=True)
        class Meta:
            database = db
            table_name = 'membership'
            indexes = ((('imported_class', 'user_sourced_id'), True),
                       (('district_id', 'user_sourced_id'), False))
    db.create_tables([Membership])

    class RunChange(Model):
        run_id = IntegerField()
        entity = CharField(max_length=32)
        row_id = IntegerField()
        sourced_id = TextField()
        kind = CharField(max_length=16)
        prev_last_run_id = IntegerField(null=True)
        before = TextField(null=True)
        after = TextField(null=True)
        class Meta:
            database = db
            table_name = 'run_change'
            indexes = ((('run_id', 'entity', 'kind'), False),)
    db.create_tables([RunChange])

    class SyncRun(Model):
        district = ForeignKeyField(District, on_delete='CASCADE')
        source = CharField(max_length=32, default='cli')
        source_name = TextField(null=True)
        status = CharField(index=True, max_length=16, default='running')
        oneroster_version = CharField(null=True, max_length=8)
        modes = TextField(null=True)
        counts = TextField(null=True)
        message = TextField(null=True)
        error_count = IntegerField(default=0)
        warning_count = IntegerField(default=0)
        package_path = TextField(null=True)
        worker = TextField(null=True)
        started_at = DateTimeField()
        finished_at = DateTimeField(null=True)
        decided_by = TextField(null=True)
        decided_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'sync_run'
    db.create_tables([SyncRun])

    class RunIssue(Model):
        run = ForeignKeyField(SyncRun, on_delete='CASCADE')
        file = TextField(null=True)
        line = IntegerField(null=True)
        field = TextField(null=True)
        severity = CharField(max_length=8)
        message = TextField()
        count = IntegerField(default=1)
        class Meta:
            database = db
            table_name = 'run_issue'
    db.create_tables([RunIssue])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('run_issue'))
    migrator.migrate(migrator.drop_table('sync_run'))
    migrator.migrate(migrator.drop_table('run_change'))
    migrator.migrate(migrator.drop_table('roster_users'))
    migrator.migrate(migrator.drop_table('roster_roles'))
    migrator.migrate(migrator.drop_table('roster_classes'))
    migrator.migrate(migrator.drop_table('roster_orgs'))
    migrator.migrate(migrator.drop_table('membership'))
    migrator.migrate(migrator.drop_table('imported_class'))
    migrator.migrate(migrator.drop_table('roster_enrollments'))
    migrator.migrate(migrator.drop_table('roster_courses'))
    migrator.migrate(migrator.drop_table('account_event'))
    migrator.migrate(migrator.drop_table('account'))
    migrator.migrate(migrator.drop_table('district'))
    migrator.migrate(migrator.drop_table('roster_academic_sessions'))
