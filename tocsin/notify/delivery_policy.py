"""SNS delivery policies for HTTP and HTTPS endpoints, and the retry schedule they define.

A topic's DeliveryPolicy contains ``{"http": {"defaultHealthyRetryPolicy": {...},
"disableSubscriptionOverrides": bool, "defaultThrottlePolicy": {...},
"defaultRequestPolicy": {"headerContentType": ...}}}``; a subscription's contains
``{"healthyRetryPolicy": {...}, "throttlePolicy": {...}, "requestPolicy": {...}}``.
The retry policy runs in four phases, as the SNS developer guide describes:
``numNoDelayRetries`` immediate retries, ``numMinDelayRetries`` retries after
``minDelayTarget`` seconds, backoff retries whose delays grow from the minimum
to the maximum by ``backoffFunction``, and ``numMaxDelayRetries`` retries after
``maxDelayTarget`` seconds. The backoff phase has the retries that
``numRetries`` leaves over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tocsin.notify.sns_errors import invalid_parameter

BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")
MAX_RETRIES = 100
MAX_DELAY_SECONDS = 3600
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"
CONTENT_TYPES = (
    "text/plain",
    "text/plain; charset=UTF-8",
    "application/json",
    "application/json; charset=UTF-8",
    "application/xml",
    "application/xml; charset=UTF-8",
    "text/xml",
    "text/xml; charset=UTF-8",
    "text/html",
    "text/html; charset=UTF-8",
)
RETRY_FIELDS = (
    "minDelayTarget",
    "maxDelayTarget",
    "numRetries",
    "numMaxDelayRetries",
    "numNoDelayRetries",
    "numMinDelayRetries",
    "backoffFunction",
)


@dataclass(frozen=True)
class RetryPolicy:
    """The healthy retry policy of one endpoint: how often and how long to retry."""

    min_delay: int = 20
    max_delay: int = 20
    retries: int = 3
    max_delay_retries: int = 0
    no_delay_retries: int = 0
    min_delay_retries: int = 0
    backoff: str = "linear"

    def delay_before_retry(self, retry: int) -> float | None:
        """Return the seconds to wait before retry number ``retry`` (1-based), or None.

        None means the policy has no such retry, so the delivery has failed.
        """
        if retry < 1 or retry > self.retries:
            return None
        if retry <= self.no_delay_retries:
            return 0.0
        retry -= self.no_delay_retries
        if retry <= self.min_delay_retries:
            return float(self.min_delay)
        retry -= self.min_delay_retries
        backoff_retries = (
            self.retries - self.no_delay_retries - self.min_delay_retries - self.max_delay_retries
        )
        if retry <= backoff_retries:
            return self._backoff_delay(retry, backoff_retries)
        return float(self.max_delay)

    def _backoff_delay(self, step: int, steps: int) -> float:
        # The developer guide plots the four functions without formulas, so
        # these curves are Tocsin's: each starts near the minimum delay and
        # reaches the maximum delay at the last backoff retry.
        low, high = float(self.min_delay), float(self.max_delay)
        fraction = step / steps
        if self.backoff == "arithmetic":
            return low + (high - low) * fraction * fraction
        if self.backoff == "geometric":
            return float(low * (high / low) ** fraction)
        if self.backoff == "exponential":
            return low + (high - low) * (2.0**step - 1) / (2.0**steps - 1)
        return low + (high - low) * fraction

    def as_document(self) -> dict[str, Any]:
        return {
            "minDelayTarget": self.min_delay,
            "maxDelayTarget": self.max_delay,
            "numRetries": self.retries,
            "numMaxDelayRetries": self.max_delay_retries,
            "numNoDelayRetries": self.no_delay_retries,
            "numMinDelayRetries": self.min_delay_retries,
            "backoffFunction": self.backoff,
        }


DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclass(frozen=True)
class EndpointPolicy:
    """The delivery settings of one HTTP endpoint, from a topic's or a subscription's policy."""

    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    content_type: str = DEFAULT_CONTENT_TYPE
    disable_overrides: bool = False
    max_receives_per_second: int | None = None


def _load(text: str, name: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise invalid_parameter(name, "failed to parse JSON") from None
    if not isinstance(document, dict):
        raise invalid_parameter(name, "must be a JSON object")
    return document


def _integer(document: dict[str, Any], field: str, name: str, default: int) -> int:
    value = document.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_parameter(name, f"{field} must be an integer, got {value!r}")
    if value < 0:
        raise invalid_parameter(name, f"{field} must be 0 or greater, got {value}")
    return value


def _retry_policy(document: Any, name: str) -> RetryPolicy:
    if not isinstance(document, dict):
        raise invalid_parameter(name, "the retry policy must be a JSON object")
    unknown = sorted(set(document) - set(RETRY_FIELDS))
    if unknown:
        raise invalid_parameter(name, f"unknown retry policy fields {unknown}")
    defaults = DEFAULT_RETRY_POLICY
    policy = RetryPolicy(
        min_delay=_integer(document, "minDelayTarget", name, defaults.min_delay),
        max_delay=_integer(document, "maxDelayTarget", name, defaults.max_delay),
        retries=_integer(document, "numRetries", name, defaults.retries),
        max_delay_retries=_integer(document, "numMaxDelayRetries", name, 0),
        no_delay_retries=_integer(document, "numNoDelayRetries", name, 0),
        min_delay_retries=_integer(document, "numMinDelayRetries", name, 0),
        backoff=document.get("backoffFunction", defaults.backoff),
    )

    if policy.backoff not in BACKOFF_FUNCTIONS:
        raise invalid_parameter(
            name,
            f"backoffFunction must be one of {', '.join(BACKOFF_FUNCTIONS)}, "
            f"got {policy.backoff!r}",
        )
    if policy.retries > MAX_RETRIES:
        raise invalid_parameter(name, f"numRetries must be at most {MAX_RETRIES}")
    if not 1 <= policy.min_delay <= policy.max_delay:
        raise invalid_parameter(
            name, "minDelayTarget must be at least 1 and at most maxDelayTarget"
        )
    if policy.max_delay > MAX_DELAY_SECONDS:
        raise invalid_parameter(name, f"maxDelayTarget must be at most {MAX_DELAY_SECONDS}")
    phases = policy.no_delay_retries + policy.min_delay_retries + policy.max_delay_retries
    if phases > policy.retries:
        raise invalid_parameter(
            name,
            "numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed "
            f"numRetries ({phases} > {policy.retries})",
        )
    return policy


def _content_type(document: Any, name: str) -> str:
    if not isinstance(document, dict):
        raise invalid_parameter(name, "the request policy must be a JSON object")
    value = document.get("headerContentType", DEFAULT_CONTENT_TYPE)
    if value not in CONTENT_TYPES:
        raise invalid_parameter(name, f"unsupported headerContentType {value!r}")
    return str(value)


def _throttle(document: Any, name: str) -> int | None:
    if not isinstance(document, dict):
        raise invalid_parameter(name, "the throttle policy must be a JSON object")
    if "maxReceivesPerSecond" not in document:
        return None
    value = _integer(document, "maxReceivesPerSecond", name, 1)
    if value < 1:
        raise invalid_parameter(name, "maxReceivesPerSecond must be at least 1")
    return value


def parse_topic_policy(text: str) -> EndpointPolicy:
    """Validate a topic's DeliveryPolicy and return its HTTP part."""
    name = "DeliveryPolicy"
    document = _load(text, name)
    unknown = sorted(set(document) - {"http", "https"})
    if unknown:
        raise invalid_parameter(name, f"unsupported protocols {unknown}; use http")
    http = document.get("http", document.get("https", {}))
    if not isinstance(http, dict):
        raise invalid_parameter(name, "http must be a JSON object")
    allowed = {
        "defaultHealthyRetryPolicy",
        "disableSubscriptionOverrides",
        "defaultThrottlePolicy",
        "defaultRequestPolicy",
    }
    unknown = sorted(set(http) - allowed)
    if unknown:
        raise invalid_parameter(name, f"unknown fields {unknown} in http")
    disable = http.get("disableSubscriptionOverrides", False)
    if not isinstance(disable, bool):
        raise invalid_parameter(name, "disableSubscriptionOverrides must be true or false")
    return EndpointPolicy(
        retry=_retry_policy(http.get("defaultHealthyRetryPolicy", {}), name),
        content_type=_content_type(http.get("defaultRequestPolicy", {}), name),
        disable_overrides=disable,
        max_receives_per_second=_throttle(http.get("defaultThrottlePolicy", {}), name),
    )


def parse_subscription_policy(text: str, base: EndpointPolicy) -> EndpointPolicy:
    """Validate a subscription's DeliveryPolicy and return it over the topic's ``base``."""
    name = "DeliveryPolicy"
    document = _load(text, name)
    unknown = sorted(set(document) - {"healthyRetryPolicy", "throttlePolicy", "requestPolicy"})
    if unknown:
        raise invalid_parameter(name, f"unknown fields {unknown}")
    retry = base.retry
    if "healthyRetryPolicy" in document:
        retry = _retry_policy(document["healthyRetryPolicy"], name)
    content_type = base.content_type
    if "requestPolicy" in document:
        content_type = _content_type(document["requestPolicy"], name)
    throttle = base.max_receives_per_second
    if "throttlePolicy" in document:
        throttle = _throttle(document["throttlePolicy"], name)
    return EndpointPolicy(retry, content_type, base.disable_overrides, throttle)


def effective_policy(topic_policy: str | None, subscription_policy: str | None) -> EndpointPolicy:
    """Return the policy that applies to one HTTP subscription of a topic.

    A subscription's own policy applies unless the topic sets
    ``disableSubscriptionOverrides``.
    """
    base = parse_topic_policy(topic_policy) if topic_policy else EndpointPolicy()
    if subscription_policy and not base.disable_overrides:
        return parse_subscription_policy(subscription_policy, base)
    return base


def topic_document(policy: EndpointPolicy) -> dict[str, Any]:
    """Return a topic's effective delivery policy in the form GetTopicAttributes shows."""
    http: dict[str, Any] = {
        "defaultHealthyRetryPolicy": policy.retry.as_document(),
        "disableSubscriptionOverrides": policy.disable_overrides,
        "defaultRequestPolicy": {"headerContentType": policy.content_type},
    }
    if policy.max_receives_per_second is not None:
        http["defaultThrottlePolicy"] = {"maxReceivesPerSecond": policy.max_receives_per_second}
    return {"http": http}


def subscription_document(policy: EndpointPolicy) -> dict[str, Any]:
    """Return a subscription's effective delivery policy as GetSubscriptionAttributes shows it."""
    document: dict[str, Any] = {
        "healthyRetryPolicy": policy.retry.as_document(),
        "requestPolicy": {"headerContentType": policy.content_type},
    }
    if policy.max_receives_per_second is not None:
        document["throttlePolicy"] = {"maxReceivesPerSecond": policy.max_receives_per_second}
    return document
