"""optuna-dashboard on a dse study file or storage URL, checked first so a mistyped path creates nothing."""

from __future__ import annotations

from collections.abc import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from dse.errors import ReportError
from dse.study.storage import open_existing


class _QuietHandler(WSGIRequestHandler):
    """The dashboard polls every few seconds; one log line per request would bury the terminal."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class names it so
        pass


def dashboard_app(source: str, artifacts: str | None = None) -> tuple[Callable, str]:
    """The dashboard's WSGI app for a study file or URL, and the storage as the user would name it.

    The storage is opened writable (the dashboard saves notes), but only after it is known to be an Optuna
    storage already. The study's artifact store (`artifacts`, else the one beside an SQLite study where it
    exists) is handed to the dashboard, so each trial lists its kept weights (optuna-dashboard 0.21's
    `wsgi(storage, artifact_store=...)`).
    """
    import optuna_dashboard

    storage, display = open_existing(source, read_only=False)
    return optuna_dashboard.wsgi(storage, artifact_store=artifact_store(source, artifacts)), display


def artifact_store(source: str, artifacts: str | None = None):
    """The study's artifact store, or None when it kept no weights (no --artifacts, no directory beside it)."""
    from dse.study.artifacts import default_location, open_store

    if artifacts is not None:
        return open_store(artifacts)
    beside = default_location(source)
    return open_store(beside) if beside is not None and beside.is_dir() else None


def make_dashboard_server(source: str, host: str = "127.0.0.1", port: int = 8080,
                          artifacts: str | None = None) -> tuple[WSGIServer, str]:
    """A bound server (port 0: any free port), not yet serving; and the storage's display name."""
    app, display = dashboard_app(source, artifacts)
    try:
        server = make_server(host, port, app, handler_class=_QuietHandler)
    except OSError as exc:
        raise ReportError(f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                          + ("; pick another with --port" if port else "")) from None
    return server, display


def serve(source: str, host: str = "127.0.0.1", port: int = 8080,
          ready: Callable[[str, str], None] | None = None, artifacts: str | None = None) -> None:
    """Serve until Ctrl-C; `ready(url, storage)` is called once the port is bound."""
    server, display = make_dashboard_server(source, host, port, artifacts)
    shown = f"[{host}]" if ":" in host else host
    if ready is not None:
        ready(f"http://{shown}:{server.server_port}/", display)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
