"""Signals for host apps (blinker, as Flask's own): connect a receiver to act on sign-ins.

    from al_roster.signals import account_created

    @account_created.connect_via(app)
    def welcome(sender, account, via, **extra): ...

``account_created``: a first sign-in made an account (``account``, ``via``: "sso", "lti"
or "dev"). ``student_placed``: a sign-in put a student in imported classes they were not in
(``account``, ``class_ids``: ImportedClass ids). Both are sent with the app as sender, after
the database changes are committed.
"""
from __future__ import annotations

from flask.signals import Namespace

_signals = Namespace()

account_created = _signals.signal("al-roster-account-created")
student_placed = _signals.signal("al-roster-student-placed")
#: A district was purged (``al-roster district purge``): ``district`` (its slug),
#: ``account_ids`` and ``class_ids`` (its Account and ImportedClass ids, now deleted), so the
#: host app can delete what it keeps for them. Sent after the purge is committed.
district_purged = _signals.signal("al-roster-district-purged")
#: A teacher asked "Someone missing or wrong?" on a class's page (or its JSON route) and was
#: answered: ``account`` (the teacher), ``class_id`` (ImportedClass id), ``reference`` (what
#: support looks up in the console), ``answer`` (the answer code), ``fix_by`` ("district",
#: "support", "teacher" or "nobody") and ``message`` (the text ready to send). Connect it to
#: open the host app's own chat with that text. Sent after the question is kept.
teacher_message_ready = _signals.signal("al-roster-teacher-message-ready")
