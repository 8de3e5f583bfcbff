"""Moved to tests/support/samples.py; this alias keeps older imports working."""

from tests.support.samples import *  # noqa: F403
