"""The one way out of the hub: a small HTTP/1.1 client behind the destination address policy."""
