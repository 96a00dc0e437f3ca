"""Registrants answer surveys and the satisfaction rating."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal_surveys", __name__, url_prefix="/surveys")
