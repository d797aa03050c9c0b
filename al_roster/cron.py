"""The schedule ``al-roster cron`` hands ``rq cron`` (this file, installed with the package).

Registers the nightly sync of every district at AL_ROSTER_SYNC_CRON on AL_ROSTER_QUEUE,
and the clean-up of what is past its retention window at AL_ROSTER_CLEANUP_CRON, read from
the app named by AL_ROSTER_APP (``flask --app X al-roster cron`` sets it to X; see
``al_roster.jobs``). A schedule of your own: a file that calls
``al_roster.jobs.register_cron(cron)`` beside your own ``cron.register(...)`` lines, run
with ``rq cron yourfile.py``. rq 2.x reads cron strings
in UTC: the default ``0 7 * * *`` is 2-3 am in US Eastern, a district's night. Run exactly
one ``rq cron`` process: it takes no lock, so two would queue everything twice (the nightly
job ids make the second copy a no-op, but do not rely on it).
"""
from rq import cron

from al_roster.jobs import register_cron

register_cron(cron)
