"""Everything after the 202: claiming due work from the store as leases, verifying intent,
sending deliveries and recording each attempt's outcome against the retry schedule."""
