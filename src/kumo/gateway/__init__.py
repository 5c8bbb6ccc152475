"""AI Gateway: a proxy in front of LLM providers with caching, rate limits, retries, fallback, logs and costs."""
