"""Deno Deploy: the app folder and its revision assets (``bundle``), the v2 REST API calls
(``api``, shapes in ``schema``), the one-time KV seeding call (``seed``), the deploy steps
(``setup``) and ``nwc-signer deploy deno`` (``cli``); docs/deno-deploy.md.

Nothing here is on the signer's request path.
"""
