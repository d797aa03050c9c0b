"""Districts, sync runs, the roster copy, accounts and imported classes."""
from peewee import *


def up(migrator, db):
    class AcademicSession(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        title = TextField(null=True)
        type = TextField(null=True)
        start_date = DateField(null=True)
        end_date = DateField(null=True)
        parent_sourced_id = TextField(null=True)
        school_year = TextField(null=True)
        class Meta:
            database = db
            table_name = 'roster_academic_sessions'
            indexes = ((('district_id', 'sourced_id'), True),)
    db.create_tables([AcademicSession])

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

    class Course(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        school_year_sourced_id = TextField(null=True)
        title = TextField(null=True)
        course_code = TextField(null=True)
        grades = TextField(null=True)
        org_sourced_id = TextField(null=True)
        subjects = TextField(null=True)
        subject_codes = TextField(null=True)
        class Meta:
            database = db
            table_name = 'roster_courses'
            indexes = ((('district_id', 'sourced_id'), True),)
    db.create_tables([Course])

    class Enrollment(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        class_sourced_id = TextField(null=True)
        school_sourced_id = TextField(null=True)
        user_sourced_id = TextField(null=True)
        role = TextField(null=True)
        primary = BooleanField(null=True)
        begin_date = DateField(null=True)
        end_date = DateField(null=True)
        class Meta:
            database = db
            table_name = 'roster_enrollments'
            indexes = ((('district_id', 'sourced_id'), True), (('district_id', 'class_sourced_id'), False), (('district_id', 'user_sourced_id'), False))
    db.create_tables([Enrollment])

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
            indexes = ((('imported_class', 'user_sourced_id'), True), (('district_id', 'user_sourced_id'), False))
    db.create_tables([Membership])

    class Org(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        name = TextField(null=True)
        type = TextField(null=True)
        identifier = TextField(null=True)
        parent_sourced_id = TextField(null=True)
        class Meta:
            database = db
            table_name = 'roster_orgs'
            indexes = ((('district_id', 'sourced_id'), True),)
    db.create_tables([Org])

    class RosterClass(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        title = TextField(null=True)
        grades = TextField(null=True)
        course_sourced_id = TextField(null=True)
        class_code = TextField(null=True)
        class_type = TextField(null=True)
        location = TextField(null=True)
        school_sourced_id = TextField(null=True)
        term_sourced_ids = TextField(null=True)
        subjects = TextField(null=True)
        subject_codes = TextField(null=True)
        periods = TextField(null=True)
        class Meta:
            database = db
            table_name = 'roster_classes'
            indexes = ((('district_id', 'sourced_id'), True),)
    db.create_tables([RosterClass])

    class RosterRole(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        user_sourced_id = TextField(null=True)
        role_type = TextField(null=True)
        role = TextField(null=True)
        begin_date = DateField(null=True)
        end_date = DateField(null=True)
        org_sourced_id = TextField(null=True)
        user_profile_sourced_id = TextField(null=True)
        class Meta:
            database = db
            table_name = 'roster_roles'
            indexes = ((('district_id', 'sourced_id'), True), (('district_id', 'user_sourced_id'), False))
    db.create_tables([RosterRole])

    class RosterUser(Model):
        district_id = IntegerField()
        sourced_id = TextField()
        date_last_modified = TextField(null=True)
        extra = TextField(null=True)
        row_hash = BigIntegerField()
        first_run_id = IntegerField()
        last_run_id = IntegerField()
        removed_run_id = IntegerField(null=True)
        enabled_user = BooleanField(null=True)
        org_sourced_ids = TextField(null=True)
        role = TextField(null=True)
        username = TextField(null=True)
        user_ids = TextField(null=True)
        given_name = TextField(null=True)
        family_name = TextField(null=True)
        middle_name = TextField(null=True)
        identifier = TextField(null=True)
        email = TextField(null=True)
        sms = TextField(null=True)
        phone = TextField(null=True)
        agent_sourced_ids = TextField(null=True)
        grades = TextField(null=True)
        user_master_identifier = TextField(null=True)
        preferred_given_name = TextField(null=True)
        preferred_middle_name = TextField(null=True)
        preferred_family_name = TextField(null=True)
        primary_org_sourced_id = TextField(null=True)
        pronouns = TextField(null=True)
        class Meta:
            database = db
            table_name = 'roster_users'
            indexes = ((('district_id', 'sourced_id'), True), (('district_id', 'username'), False))
    db.create_tables([RosterUser])

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
