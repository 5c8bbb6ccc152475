"""Workers AI: a model catalog, task schemas, runtimes that run real weights, and Cloudflare's wire format."""
