"""Import of every module that declares tables, so that the metadata is complete."""

import tocsin.engine.jobs
import tocsin.iam.models
import tocsin.protocol.idempotency

__all__ = ["tocsin"]
