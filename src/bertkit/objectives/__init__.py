"""Pretraining objectives: maskers (pure functions on ids) and losses (model outputs + batch -> named losses)."""
from __future__ import annotations
