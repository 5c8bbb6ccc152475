"""Custom models: a team's own models (ONNX, scikit-learn) kept in R2 and served through `/ai/run/@custom/...`.
`registry.py` names and versions (the SQL store behind them in storage/sql_custom_models.py), `formats.py` how
each file format loads and predicts, `cache.py` loaded models bounded by bytes, `service.py` what routes call."""

PREFIX = "@custom/"  # Cloudflare's ids are @cf/ and @hf/: this one can never be theirs
CALLER_KEY_HEADER = "x-kumo-caller-key"  # e.g. a user id: under an A/B split, one key always gets one version
