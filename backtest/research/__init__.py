"""Workflows that drive the engines: one run, a sweep, a walk-forward, an event study."""
