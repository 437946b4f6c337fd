"""What a person reads of a failure or a connection: one line of an error (a page's message,
``/ready``, a command's stderr) and URLs without their password. Every command, the API and the
dashboards print through these, so that no message shows a secret or a driver's whole traceback."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of what went wrong: a driver's own message rather than SQLAlchemy's wrapper,
    MLflow's ``message``, else the exception's text; its class name when it has none."""
    text = str(getattr(exc, "orig", None) or getattr(exc, "message", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:limit]


def masked(url: str) -> str:
    """A database URL as it may be shown: never with its password."""
    # Imported here: the MLflow model's code imports this package, and needs no SQLAlchemy.
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as a placeholder: its text may hold a password
        return "(unparsable database URL)"


def masked_uri(uri: str) -> str:
    """Any URI as it may be shown (MLflow's may be a database URL or an http one with a login)."""
    if uri.startswith(("http://", "https://")):
        try:
            parts = urlsplit(uri)
            password, port = parts.password, parts.port
        except ValueError:  # a malformed netloc (a bad port, say): nothing of it is shown
            return "(unparsable URL)"
        if password:
            netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{port}" if port else "")
            return urlunsplit(parts._replace(netloc=netloc))
        return uri
    if "://" in uri and not uri.startswith(("file:", "sqlite:")):
        return masked(uri)
    return uri
