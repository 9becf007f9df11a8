"""Everything before the 202: the HTTP surface (`routes/`), parsing of WebSub and publisher
requests, authentication, rate limits and topic policy, down to the durable write in the store.

Nothing here sends a delivery or signs a SET; the only outbound calls are the subscribe-time
address check and the fetch of an external topic on a publish ping.
"""
