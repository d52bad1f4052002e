"""`chat-transfer web`'s gunicorn application: settings, and the heap frozen once the app is loaded."""

from __future__ import annotations

import gc

from tests.support.settings import make_settings
from webhooks.server import _Gunicorn, gunicorn_options


def test_gunicorn_runs_sync_workers_on_the_asked_address():
    options = gunicorn_options(make_settings(), "127.0.0.1", 8080, workers=3)
    assert options["bind"] == "127.0.0.1:8080"
    assert options["workers"] == 3
    assert options["worker_class"] == "sync"


def test_loading_the_app_freezes_what_was_loaded_out_of_full_collections():
    gc.unfreeze()
    loaded = object()
    try:
        server = _Gunicorn(gunicorn_options(make_settings(), "127.0.0.1", 0, workers=1), lambda: loaded)
        assert gc.get_freeze_count() == 0
        assert server.load() is loaded
        assert gc.get_freeze_count() > 0  # the app's objects are in the permanent generation
    finally:
        gc.unfreeze()
