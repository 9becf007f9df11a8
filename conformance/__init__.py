"""A conformance suite for WebSub hubs (and SET-publishing hubs), run against any hub URL.

It speaks only HTTP: it plays topic publisher and subscriber on loopback servers of its own and
knows nothing of any hub's internals. `python -m conformance --hub URL` runs it.
"""
