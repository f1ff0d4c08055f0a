"""The market sandbox: a deterministic simulator and a server speaking the venues' APIs on loopback.

The pipeline reaches it only over HTTP, never by import: venues/ and defs/ must not import this package.
"""
