"""The onboarding service: choose a platform, authorise it for minutes, deploy the signer
into the user's own account step by step, and hand over the first connection.

It keeps no token, root secret, seed or connection secret: those live in the memory of the
one deploy (and, for its duration, in a private wallet folder that is wiped at the end and
at start-up). docs/onboarding.md states the trust model.
"""
