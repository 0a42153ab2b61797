"""Probe knowledge: the project's probe documentation, discover_probes, and the guides served as MCP resources."""
