"""Vectorize v2: indexes of vectors with metadata, queried by similarity (Cloudflare's wire format)."""
