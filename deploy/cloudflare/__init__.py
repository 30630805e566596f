"""Cloudflare Workers: the Python Worker bundle (``bundle``), the API calls that put it into a
user's account the way ``wrangler deploy`` does (``api``, ``upload``), the wallet set-up on R2
and D1 (``setup``) and ``nwc-signer deploy cloudflare`` (``cli``); docs/cloudflare-deploy.md.

Only the CLI imports the ``cloudflare`` SDK: nothing here is on the signer's request path.
"""
