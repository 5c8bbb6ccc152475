"""A web page served by kumo: gateway analytics drawn as charts, gateways and logs, indexes and models."""
