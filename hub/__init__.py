"""sethub: a WebSub hub that delivers identity events as signed Security Event Tokens."""

__version__ = "0.1.0"
