"""Pure-Python crypto fallbacks for runtimes without native wheels (Pyodide: Cloudflare, Deno).

Correct first, reasonably fast second; not constant time (see docs/cloudflare.md "Crypto").
Nothing here is imported when the native backend is in use.
"""
