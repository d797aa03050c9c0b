"""What teachers asked on a class's page ("Someone missing or wrong?") and the answer code."""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db

    class District(Base):
        class Meta:
            table_name = 'district'

    class ImportedClass(Base):
        class Meta:
            table_name = 'imported_class'

    class Account(Base):
        class Meta:
            table_name = 'account'

    class TeacherQuestion(Base):
        reference = CharField(max_length=16, unique=True)
        district = ForeignKeyField(District, on_delete='CASCADE')
        imported_class = ForeignKeyField(ImportedClass, on_delete='CASCADE')
        teacher = ForeignKeyField(Account, on_delete='CASCADE')
        query = TextField()
        student_sourced_id = TextField(null=True)
        answer = CharField(max_length=32)
        run_id = IntegerField(null=True)
        asked_at = DateTimeField()

        class Meta:
            table_name = 'teacher_question'
            indexes = ((('teacher', 'asked_at'), False), (('district', 'asked_at'), False))

    db.create_tables([TeacherQuestion])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('teacher_question'))
