"""Where the test data lives, for every test module whatever its folder."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
CONNECTORS = TESTS / "connectors"  # one connector file per provider, as a customer writes them
CRM_CONNECTORS = TESTS / "connectors_crm"
SINK_CONNECTORS = TESTS / "connectors_hubspot_sink"  # HubSpot both ways
