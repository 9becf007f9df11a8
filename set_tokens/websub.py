"""WebSub and RFC 8935 helpers beneath `WebSubSubscriber` and `make_push_handler`.

`discover` reads a topic's hub and self URLs from its Link headers; `signature_valid` checks an
`X-Hub-Signature`; `TopicSubscription` is what `WebSubSubscriber.subscribe` returns.
`SubscriptionFailed` (also at the top of `set_tokens`) is any failed subscribe or unsubscribe;
`DiscoveryError`, one of them, says the topic URL could not be read (`status` 404: no such topic).
`rejection_response` and `unavailable_response` are the RFC 8935 answers of a receiver of your own.
"""

from ._receive import rejection_response, unavailable_response
from ._subscriber import (
    DiscoveryError,
    SubscriptionFailed,
    TopicSubscription,
    discover,
    signature_valid,
)

__all__ = [
    "DiscoveryError",
    "SubscriptionFailed",
    "TopicSubscription",
    "discover",
    "rejection_response",
    "signature_valid",
    "unavailable_response",
]
