from kumo.gateway.providers.base import Price, Provider

PROVIDER = Provider(
    slug="perplexity-ai",
    base_url="https://api.perplexity.ai",
    compat_prefix="perplexity",
    prices={"sonar": Price(1.0, 1.0), "sonar-pro": Price(3.0, 15.0), "sonar-reasoning": Price(1.0, 5.0)},
)
