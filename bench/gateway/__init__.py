"""The AI Gateway benchmark's parts; `bench/gateway_proxy.py` runs them (and is what the fake provider and
the load generator processes start as, with `--role`)."""
