"""Workers bindings: the protocol wrangler and miniflare speak for remote `ai` and `vectorize` bindings,
served by this kumo, so unmodified Workers run locally against it (see README, "Workers on kumo")."""
