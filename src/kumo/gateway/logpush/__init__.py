"""Logpush: a gateway with `logpush` on has its log records pushed, in batches, to the destination the operator
named (kumo's own R2, or an HTTP endpoint), with bodies and metadata sealed to its `logpush_public_key`."""
