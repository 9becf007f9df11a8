"""The HTTP surface: parse and check requests, call the domain, answer. Never sends anything."""
