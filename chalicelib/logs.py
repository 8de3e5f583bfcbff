"""Structured JSON logs. Log lines carry ids, counts and reasons: never secrets, bodies or emails."""

from __future__ import annotations

import logging
import os

_configured = False


def configure_logging() -> None:
    """Attach Powertools' JSON formatter to the `chorus` logger (once per process)."""
    global _configured
    if _configured:
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(
        LambdaPowertoolsFormatter(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "chorus"))
    )
    logger = logging.getLogger("chorus_hub")
    logger.handlers[:] = [handler]
    logger.setLevel(os.environ.get("CHORUS_LOG_LEVEL", "INFO"))
    logger.propagate = False
    _configured = True
