"""Moved to tests/support/senders.py; this alias keeps older imports working."""

from tests.support.senders import *  # noqa: F403
