"""Real processes for end-to-end tests (the same helpers `chat-transfer demo` uses)."""

from ops.localstack import ServiceProcess, start_web, start_worker, wait_for

__all__ = ["ServiceProcess", "start_web", "start_worker", "wait_for"]
