"""Signals for host apps (blinker, as Flask's own): connect a receiver to follow the roster.

    from al_roster import signals

    @signals.member_added.connect_via(app)
    def add_to_gradebook(sender, event, account, **extra):
        ...  # event.imported_class_id, event.user_sourced_id, event.payload["role"]

Every change to imported classes, their memberships and accounts is kept as a roster event
(:class:`al_roster.models.RosterEvent`, read them in order with ``al_roster.api.events``), and
each event is sent as the signal of its kind, with the app as sender, once, after the
transaction that wrote it has committed: from a web request, a command or an RQ worker alike
(a worker builds the app named by ``AL_ROSTER_APP``, so the receivers the host connected are
there). A receiver that raises is logged; the change stays, and the other receivers still get
the event. Every roster signal is sent with:

- ``event``: the :class:`~al_roster.models.RosterEvent`: ``id`` (the cursor), ``kind``,
  ``district_id``, ``imported_class_id`` and ``class_sourced_id`` (None for account and run
  events), ``user_sourced_id`` and ``account_id`` (None when the person has no account yet),
  ``run_id`` (the sync run that caused it, if one did), ``request_id`` (the same for every
  event of one transaction), ``at`` (UTC) and ``payload`` (a small dict, below);
- ``account``: the person's al_roster Account, or None.

The kinds, and their payloads:

- ``class_imported``: a teacher imported a class (``{"title"}``); the teacher joining it is a
  ``member_added`` of role teacher, and so is every student the roster brings along;
- ``class_archived``: the SIS removed an imported class (``{"title"}``); its memberships are
  left as they were (read-only);
- ``class_restored``: the SIS brought an archived class back (``{"title"}``);
- ``class_renamed``: its title follows the SIS (``{"before": {"title"}, "after": {"title"}}``);
- ``member_added``: a person joined an imported class (``{"role"}``: "student" or "teacher");
- ``member_removed``: their enrollment ended or was removed (``{"role"}``); removal is soft:
  keep their work, it comes back with a ``member_restored``;
- ``member_restored``: a removed member is back in the class (``{"role"}``);
- ``account_created``: a first sign-in made an account (``{"via"}``: "sso", "lti" or "dev";
  also sent with ``via``);
- ``account_relinked``: the person's SourcedId changed in the SIS and their account followed
  (``{"before": {"sourcedId"}, "after": {"sourcedId"}}``);
- ``run_applied``: a sync run (or the held part of one, ``{"part": "held"}``) was applied
  (``{"status", "counts"}``); the run's class and member events come before it;
- ``run_undone``: a run was undone; the events that reverse what it did come before it.

A sync that is rejected, held, fails or is killed leaves no events and sends no signals.

Other signals: ``student_placed``: a sign-in put a student in imported classes they were not
in (``account``, ``class_ids``: ImportedClass ids; the same changes are ``member_added`` and
``member_restored`` events). ``district_purged`` and ``teacher_message_ready``: below.
"""
from __future__ import annotations

from flask.signals import Namespace

_signals = Namespace()

class_imported = _signals.signal("al-roster-class-imported")
class_archived = _signals.signal("al-roster-class-archived")
class_restored = _signals.signal("al-roster-class-restored")
class_renamed = _signals.signal("al-roster-class-renamed")
member_added = _signals.signal("al-roster-member-added")
member_removed = _signals.signal("al-roster-member-removed")
member_restored = _signals.signal("al-roster-member-restored")
account_created = _signals.signal("al-roster-account-created")
account_relinked = _signals.signal("al-roster-account-relinked")
run_applied = _signals.signal("al-roster-run-applied")
run_undone = _signals.signal("al-roster-run-undone")

#: One signal per roster event kind, by kind.
EVENT_SIGNALS = {
    "class_imported": class_imported, "class_archived": class_archived,
    "class_restored": class_restored, "class_renamed": class_renamed,
    "member_added": member_added, "member_removed": member_removed,
    "member_restored": member_restored, "account_created": account_created,
    "account_relinked": account_relinked, "run_applied": run_applied, "run_undone": run_undone,
}

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
