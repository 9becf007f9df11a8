"""Signing SETs off the event loop: the signer (key set, claims), and the pool of signing
processes it feeds in batches."""
