"""The plugin's blueprint, which every module of the web layer adds its routes to."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("al_roster", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
