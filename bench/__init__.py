"""`python -m bench`: what users pay for, measured side by side in one run (issue 8).

Sections: intake (signed TaskRouter events against the receiver under gunicorn, next to a bare
204 endpoint served by the same gunicorn settings), end to end (transfer request → transfer
task created and `transfer-started` posted, against the sandbox over HTTP), cost (Twilio REST
calls per warm-transfer lifecycle, counted at the sandbox), scale (10,000 tracked chats in
Redis, one reconciliation pass) and profiles (pyinstrument). Results go to `bench/results.json`
and `docs/benchmarks.md`. Benchmarks are never timed assertions in the tests.
"""
