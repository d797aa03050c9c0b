"""al_roster: OneRoster and ClassLink rostering for Flask apps."""
from .extension import ALRoster

__all__ = ["ALRoster"]
__version__ = "0.1.0"
