"""Vercel: the project's files and their hash (``bundle``), the REST API calls (``api``,
shapes in ``schema``), the deploy steps (``setup``), the first sealed state into the Blob
store (``state``) and ``nwc-signer deploy vercel`` (``cli``); docs/vercel-deploy.md.

Nothing here is on the signer's request path.
"""
