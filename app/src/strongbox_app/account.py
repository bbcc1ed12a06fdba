"""The pages of a logged-in user: their page, and "Your sessions", where they
see every device they are logged in on and sign any of them out."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from flask_strongbox import session

from .auth import login_required
from .extensions import strongbox

bp = Blueprint("account", __name__)


@bp.get("/user")
@login_required
def user() -> ResponseReturnValue:
    """Show the logged-in name."""
    return render_template("account/user.html")


@bp.get("/sessions")
@login_required
def sessions() -> ResponseReturnValue:
    """List every live session of the logged-in name, this one marked."""
    return render_template("account/sessions.html", sessions=strongbox.sessions_of(g.user))


@bp.post("/sessions/revoke")
@login_required
def revoke_session() -> ResponseReturnValue:
    """Sign out one session of the logged-in name. ``user=g.user`` makes a
    handle of someone else's session do nothing."""
    handle = request.form.get("handle", "")
    if handle and handle == session.handle:
        session.clear()
        return redirect(url_for("auth.login", notice="logged_out"))
    if handle and strongbox.revoke(handle, user=g.user):
        flash("Signed out that session.", "success")
    else:
        flash("That session had already ended.", "info")
    return redirect(url_for("account.sessions"))


@bp.post("/sessions/revoke-others")
@login_required
def revoke_other_sessions() -> ResponseReturnValue:
    """Sign out every session of the logged-in name but this one."""
    count = strongbox.revoke_user(g.user, keep_current=True)
    flash(f"Signed out {count} other session{'' if count == 1 else 's'}.", "success")
    return redirect(url_for("account.sessions"))
