"""Logging in and out, and who is logged in.

:func:`load_logged_in_user` puts the logged-in name in ``g.user`` before
every request, and :func:`login_required` sends anonymous visitors to the
login form, as in Flask's tutorial.

Nothing here stores anything for an anonymous visitor: the login form needs no
session (cross-site protection is header based, see :mod:`.protection`), and
the "logged out" and "session expired" notices travel as a fixed ``notice``
query value on the redirect instead of a flash message, which would have to be
kept in a new session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from flask_strongbox import session

from .names import INVALID_UTF8_MESSAGE, MAX_NAME_LENGTH, InvalidName, clean_name, form_body_is_utf8

bp = Blueprint("auth", __name__)

P = ParamSpec("P")

#: The notices a redirect may ask the login page to show. Unknown values are ignored.
NOTICES = {
    "expired": "Your session expired, please log in again",
    "logged_out": "You have been logged out",
}


def login_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """View decorator that sends anonymous visitors to the login form, saying
    so when their session has just expired."""

    @functools.wraps(view)
    def wrapped_view(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if g.user is None:
            return redirect_to_login()
        return view(*args, **kwargs)

    return wrapped_view


def redirect_to_login() -> Response:
    """To the login form, with the "expired" notice if the request carried a
    valid cookie for a session that no longer exists (timed out, revoked, or
    logged out elsewhere)."""
    if session.expired:
        return redirect(url_for("auth.login", notice="expired"))
    return redirect(url_for("auth.login"))


@bp.before_app_request
def load_logged_in_user() -> None:
    """Put the logged-in name, or ``None``, in ``g.user``."""
    if request.endpoint == "static" or request.blueprint == "monitoring":
        # A stylesheet or a probe never shows who is logged in: no store
        # read, and no "Vary: Cookie" to keep it out of shared caches.
        g.user = None
        return
    g.user = session.get("user")


@bp.route("/login", methods=("GET", "POST"))
def login() -> ResponseReturnValue:
    """Show the login form; on POST, log in with the name given."""
    if request.method == "POST":
        if not form_body_is_utf8(request):
            return render_login_form(error=INVALID_UTF8_MESSAGE), 400
        raw = request.form.get("nm")
        try:
            name = clean_name(raw)
        except InvalidName as error:
            return render_login_form(error=str(error), value=raw or ""), 400
        start_session(name)
        flash("You are logged in", "success")
        return redirect(url_for("account.user"))
    if g.user is not None:
        return redirect(url_for("account.user"))
    notice = "expired" if session.expired else request.args.get("notice", "")
    return render_login_form(notice=NOTICES.get(notice))


def start_session(name: str) -> None:
    """Log ``name`` in on a fresh session under a new id.

    Nothing from before the login survives, and the id changes at every
    login, the same name logging in again included (OWASP ASVS 5.0 V7.2.4):
    an id someone saw or planted before the login opens nothing after it.
    """
    session.clear()
    session["user"] = name
    session.permanent = True
    session.regenerate()


def render_login_form(*, error: str | None = None, value: str = "", notice: str | None = None) -> str:
    return render_template(
        "auth/login.html", error=error, value=value, notice=notice, max_length=MAX_NAME_LENGTH
    )


@bp.get("/logout")
@login_required
def confirm_logout() -> ResponseReturnValue:
    """Only a confirmation button: a link or an ``<img src=".../logout">`` on
    another site cannot log anyone out."""
    return render_template("auth/logout.html")


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session on the server and in the browser."""
    if session:
        session.clear()
    return redirect(url_for("auth.login", notice="logged_out"))
