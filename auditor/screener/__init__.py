"""Audits of text and LLM screeners: paired applications, probes, statistics, attributions."""
