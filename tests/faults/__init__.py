"""Fault scenarios: app processes killed under load, the database restarted, the API fuzzed.

The short versions run in the normal suite; ``bench/soak.py`` runs the long ones.
"""
