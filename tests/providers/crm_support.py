"""Moved to tests/support/crm.py; this alias keeps older imports working."""

from tests.support.crm import *  # noqa: F403
