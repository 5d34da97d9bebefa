"""Robust training: ARPO and BARPO (robust losses, relaxations, schedules, the robust trainer)."""
