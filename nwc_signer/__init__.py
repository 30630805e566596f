"""The nwc-signer command line and developer tooling (top of the import graph)."""
