"""`kumo vectorize ...`: placeholder replaced below."""
import click


@click.group()
def vectorize() -> None:
    """Manage Vectorize indexes."""
