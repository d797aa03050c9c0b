"""What teachers asked on a class's page ("Someone missing or wrong?") and what they were
answered, so support sees which data problems teachers meet. Nothing typed is kept beyond
the query itself; the reference is what a teacher's message quotes and support looks up."""
from __future__ import annotations

import peewee

from .accounts import Account
from .base import BaseModel
from .classes import ImportedClass
from .district import District, utcnow


class TeacherQuestion(BaseModel):
    reference = peewee.CharField(max_length=16, unique=True)
    district = peewee.ForeignKeyField(District, on_delete="CASCADE")
    imported_class = peewee.ForeignKeyField(ImportedClass, on_delete="CASCADE")
    teacher = peewee.ForeignKeyField(Account, on_delete="CASCADE")
    query = peewee.TextField()  # as typed, at most QUERY_MAX characters
    #: The roster user the answer is about, when the teacher may know them (in the class).
    student_sourced_id = peewee.TextField(null=True)
    answer = peewee.CharField(max_length=32)  # the answer code (services.teacher_why)
    run_id = peewee.IntegerField(null=True)  # the sync run the answer names
    asked_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "teacher_question"
        indexes = ((("teacher", "asked_at"), False), (("district", "asked_at"), False))
