"""kumo: Cloudflare's AI platform (Workers AI, Vectorize, AI Gateway), self-hosted."""

__version__ = "0.1.0"
__all__ = ["Env", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import kumo` stays cheap for the CLI.
    if name == "Env":
        from kumo.env import Env

        return Env
    raise AttributeError(name)
