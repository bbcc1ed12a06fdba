"""The pages: the tutorial's login system plus a "Your sessions" page.

Nothing here stores anything for an anonymous visitor: the login form needs no
session (cross-site protection is header based, see :mod:`.protection`), and
the "logged out" and "session expired" notices travel as a fixed ``notice``
query value on the redirect instead of a flash message, which would have to be
kept in a new session.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from flask_strongbox import session

from .extensions import strongbox
from .names import (
    INVALID_UTF8_MESSAGE,
    MAX_NAME_LENGTH,
    InvalidName,
    clean_name,
    form_body_is_utf8,
)

bp = Blueprint("pages", __name__)

#: The notices a redirect may ask the login page to show. Unknown values are ignored.
NOTICES = {
    "expired": "Your session expired, please log in again",
    "logged_out": "You have been logged out",
}


def current_user() -> str | None:
    """The logged-in name, or ``None``."""
    user = session.get("user")
    return user if isinstance(user, str) else None


def session_expired() -> bool:
    """Whether the request carried a valid cookie for a session that no longer
    exists (timed out, revoked, or logged out elsewhere)."""
    return session.expired


def redirect_to_login() -> Response:
    if session_expired():
        return redirect(url_for(".login", notice="expired"))
    return redirect(url_for(".login"))


@bp.get("/")
def home() -> str:
    return render_template("home.html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if request.method == "POST":
        if not form_body_is_utf8(request):
            return render_login_form(error=INVALID_UTF8_MESSAGE), 400
        raw = request.form.get("nm")
        try:
            name = clean_name(raw)
        except InvalidName as error:
            return render_login_form(error=str(error), value=raw or ""), 400
        # A fresh session for the new identity: nothing from before the login survives,
        # and Strongbox gives it a new id because session["user"] changes.
        session.clear()
        session["user"] = name
        session.permanent = True
        flash("You are logged in", "success")
        return redirect(url_for(".user"))
    if current_user() is not None:
        return redirect(url_for(".user"))
    notice = "expired" if session_expired() else request.args.get("notice", "")
    return render_login_form(notice=NOTICES.get(notice))


def render_login_form(*, error: str | None = None, value: str = "", notice: str | None = None) -> str:
    return render_template("login.html", error=error, value=value, notice=notice, max_length=MAX_NAME_LENGTH)


@bp.get("/user")
def user() -> Response | str:
    name = current_user()
    if name is None:
        return redirect_to_login()
    return render_template("user.html", name=name)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response | str:
    """POST logs out. GET only shows a confirmation button, so a link or an
    ``<img src=".../logout">`` on another site cannot log anyone out."""
    if request.method == "POST":
        if session:
            session.clear()
        return redirect(url_for(".login", notice="logged_out"))
    if current_user() is None:
        return redirect_to_login()
    return render_template("logout.html")


@bp.get("/sessions")
def sessions() -> Response | str:
    name = current_user()
    if name is None:
        return redirect_to_login()
    return render_template("sessions.html", sessions=strongbox.sessions_of(name))


@bp.post("/sessions/revoke")
def revoke_session() -> Response:
    name = current_user()
    if name is None:
        return redirect_to_login()
    handle = request.form.get("handle", "")
    current = next((info for info in strongbox.sessions_of(name) if info.current), None)
    if current is not None and handle == current.handle:
        session.clear()
        return redirect(url_for(".login", notice="logged_out"))
    if handle and strongbox.revoke(handle, user=name):
        flash("Signed out that session.", "success")
    else:
        flash("That session had already ended.", "info")
    return redirect(url_for(".sessions"))


@bp.post("/sessions/revoke-others")
def revoke_other_sessions() -> Response:
    name = current_user()
    if name is None:
        return redirect_to_login()
    count = strongbox.revoke_user(name, keep_current=True)
    flash(f"Signed out {count} other session{'' if count == 1 else 's'}.", "success")
    return redirect(url_for(".sessions"))
