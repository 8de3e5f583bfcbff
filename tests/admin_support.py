"""Moved to tests/support/admin.py; this alias keeps older imports working."""

from tests.support.admin import *  # noqa: F403
