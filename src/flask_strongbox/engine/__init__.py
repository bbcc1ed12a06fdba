"""The framework-free session engine.

==================  ==================================================
module              what it holds
==================  ==================================================
``core``            :class:`Engine`: open, load, save, count activity
``context``         what an adapter tells the engine, and its answer
``session``         the lazy session mapping views use
``state``           the typed load state a session carries
``load``            verify the cookie; fetch, open, decode, check
``decide``          the save's decision, a pure function
``write``           carrying it out: create, update, rotate, touch, delete
``swap``            the one compare-and-swap loop of every rewrite
``merge``           the three-way merge of concurrent changes
``moves``           a key move, and the old cookie's way to it
``tombstones``      what a rotated-away id leaves behind
``leases``          exclusive sessions: take and give back a lease
``adopt``           legacy sessions moved in on the fly
``markers``         the records a moved legacy session leaves
``ops``             store calls as steps, run blocking or async
``lifetimes``       idle, permanent and absolute deadlines; throttle
``activity``        when this process last saw each session
``purge``           expired records removed in rested batches
``events``          signals and log lines, with keyed fingerprints
==================  ==================================================

Nothing here imports Flask or any other web framework.
"""

from __future__ import annotations

from .context import Context, Outcome
from .core import Engine
from .events import Events
from .lifetimes import Lifetimes
from .session import LazySession, RefusedSession
from .state import Loaded

__all__ = ["Context", "Engine", "Events", "LazySession", "Lifetimes", "Loaded", "Outcome", "RefusedSession"]
