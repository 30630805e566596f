"""The sealed wallet state: key hierarchy (``keys``) and the versioned blob (``sealed``).

Format and threat model: docs/state-format.md.
"""
