"""Thin per-platform entry points around signer_core.pipeline.handle_webhook."""
