"""Where the test data lives, for every test module whatever its folder."""

from pathlib import Path

from tests.support.fixture_folders import FIXTURES, connector_dir

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
CONNECTORS = connector_dir("connectors")  # the webhook hub's connector files, one set per provider
LISTENING_CONNECTORS = connector_dir("listening")
CRM_CONNECTORS = connector_dir("crm")
SINK_CONNECTORS = TESTS / "connectors_hubspot_sink"  # a scenario: HubSpot both ways

__all__ = [
    "CONNECTORS",
    "CRM_CONNECTORS",
    "FIXTURES",
    "LISTENING_CONNECTORS",
    "ROOT",
    "SINK_CONNECTORS",
    "TESTS",
]
