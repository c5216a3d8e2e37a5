"""Shipped models: the manifest and its files (registry.py), and export (export.py), where a
trained network's prior is frozen into integer tables once."""
