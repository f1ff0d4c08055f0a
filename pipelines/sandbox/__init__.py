"""The market sandbox: a deterministic simulator and a server speaking the venues' APIs on loopback.

The pipeline reaches it only over HTTP, never by import: nothing under pipelines/ outside this package imports it
(tests/unit/test_import_boundaries.py). Whatever starts or drives a sandbox is the harness, harness/ here.
"""

# what a client must send as CG-API-KEY to the sandbox's CoinGlass route: a fixed, public sandbox value, not a secret
SANDBOX_API_KEY = "sandbox-key"
