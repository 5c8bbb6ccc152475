"""Settings for a command that starts kumo: a bad value stops it with one line per setting, not a traceback."""

from __future__ import annotations

import sys
from typing import Any

import click
from pydantic import ValidationError

from kumo.config import Settings


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            env = "KUMO_" + str(error["loc"][0]).upper() if error["loc"] else "KUMO_*"
            field = Settings.model_fields.get(str(error["loc"][0])) if error["loc"] else None
            # echo the value only for a choice among names: any other field may hold a token
            chosen = error["type"] == "literal_error" and field is not None and field.repr
            shown = f"; got {error.get('input')!r}" if chosen else ""
            click.echo(f"kumo: invalid setting `{name}` (kumo.toml or {env}): {error['msg']}{shown}", err=True)
        sys.exit(2)
