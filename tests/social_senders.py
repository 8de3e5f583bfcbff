"""Moved to tests/support/social_senders.py; this alias keeps older imports working."""

from tests.support.social_senders import *  # noqa: F403
