"""Operator tooling around the service: the `chat-transfer` command line, the demo, `setup`
against an account, `inspect` and dead letters, and the local stack (embedded Redis, sandbox,
real processes) that `up`, `demo` and the end-to-end tests run. The Celery worker and its
domain live in `worker/`; nothing there imports from here."""
