"""Security Event Tokens (RFC 8417) for transmitters and receivers."""
