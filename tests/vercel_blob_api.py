"""The loopback fake of the Vercel Blob API the Vercel tests use.

It lives in ``nwc_signer/dev/vercel_blob_api.py`` because `nwc-signer dev --runtime vercel`
serves it too (``tests`` is not an importable package for the command line); this module is
the name the tests import it under.
"""

from nwc_signer.dev.vercel_blob_api import FAULTS, BlobApiFake, Recorded, StoredBlob

__all__ = ["FAULTS", "BlobApiFake", "Recorded", "StoredBlob"]
