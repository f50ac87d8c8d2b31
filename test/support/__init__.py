"""Helpers shared by the test tiers and the demo: sandboxed gateways."""
