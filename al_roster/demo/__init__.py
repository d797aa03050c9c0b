"""A made-up district for trying the plugin, and districts of any size for tests and benchmarks.

Not part of the protocol (``oneroster/``): :mod:`.generator` writes OneRoster packages from the
schema in :mod:`al_roster.oneroster.entities`, :mod:`.night_variants` turns one night's files
into the next, and :mod:`.district` loads the demo district through the real sync.
"""
