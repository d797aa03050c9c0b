"""The ``al-roster`` command line (also ``flask al-roster`` inside a host app).

Thin click wrappers over the services: each command parses, calls one function, prints.
Outside a host app the settings come from AL_ROSTER_* environment variables. Each module
here adds its commands to :data:`cli`.
"""
from . import admin, database, districts, events, jobs, lti, privacy, sync  # noqa: F401  (register their commands)
from .base import cli


def main() -> None:
    cli(prog_name="al-roster")


__all__ = ["cli", "main"]
