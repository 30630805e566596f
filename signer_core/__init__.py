"""nwc-signer core: everything the signer knows, free of any cloud SDK at import time.

Import cost matters here: every module is loaded on a cold request, so modules import
heavy libraries (pydantic, httpx) lazily, only on the paths that need them.
"""

__version__ = "0.1.0"
