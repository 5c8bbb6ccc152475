"""kumo: Cloudflare's AI platform (Workers AI, Vectorize, AI Gateway), self-hosted."""

__version__ = "0.1.0"
