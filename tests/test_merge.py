"""The three-way merge a save falls back on when another request of the same
session saved first: what merges, and what stays a conflict.

Example tests use realistic sessions (flashes, carts, counters, login keys);
the flash scenarios run Flask's own ``flash`` and ``get_flashed_messages`` on
a real :class:`StrongboxSession`, so ``reads`` is what the session recorded.
Property tests check the merge against a reference model, a table of per-key
cases, over sessions that two requests built from a common base by sequences
of operations.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import pytest
from flask import Flask, Request, flash, get_flashed_messages, message_flashed
from flask import session as flask_session
from flask.sessions import SessionInterface
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from flask_strongbox import SaveConflict, StoreUnavailable, serialization
from flask_strongbox.engine.merge import MergeConflict, merge
from flask_strongbox.session import StrongboxSession


class Absent:
    """Stands for a key a session does not have."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = Absent()

# Fixed examples, no example database: the same cases on every run, in seconds.
_PROPERTIES = settings(max_examples=200, derandomize=True, database=None, deadline=None)
_SIMPLER_PROPERTIES = settings(_PROPERTIES, max_examples=100)


def loaded(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a store gives it back."""
    return serialization.loads(serialization.dumps(data))


def stored(data: dict[str, Any]) -> bytes:
    return serialization.dumps(data)


def with_(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of loaded ``data`` with keys set, or deleted where the value is ABSENT."""
    result = loaded(data)
    for key, value in changes.items():
        if value is ABSENT:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def conflict_of(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any],
                reads: frozenset[str] | None) -> MergeConflict:
    with pytest.raises(MergeConflict) as caught:
        merge(base, ours, theirs, reads)
    return caught.value


WELCOME = ("message", "Welcome back, alice")
SAVED = ("message", "Profile saved")
SHIPPED = ("info", "Your order shipped")
LOGGED_IN = loaded({"_permanent": True, "user": "alice", "cart": {"sku-1": 1, "sku-2": 2}})


# -- one side, or neither, changed a key ----------------------------------------


def test_a_key_one_side_left_alone_takes_the_other_sides_value() -> None:
    ours = with_(LOGGED_IN, theme="dark")
    theirs = with_(LOGGED_IN, cart={"sku-1": 1, "sku-2": 2, "sku-3": 1})
    merged = merge(LOGGED_IN, ours, theirs, frozenset({"theme", "user"}))
    assert merged == {**theirs, "theme": "dark"}


def test_a_side_without_changes_gives_back_the_other_side_exactly() -> None:
    reordered = with_(LOGGED_IN, user=ABSENT)
    reordered["user"] = "alice"  # the same values in another key order
    changed = with_(LOGGED_IN, _flashes=[WELCOME])
    changed["user"] = changed.pop("user")
    for reads in (None, frozenset(), frozenset({"user"})):
        for unchanged in (loaded(LOGGED_IN), reordered):
            assert stored(merge(LOGGED_IN, unchanged, changed, reads)) == stored(changed)
        assert stored(merge(LOGGED_IN, changed, loaded(LOGGED_IN), reads)) == stored(changed)


def test_the_result_keeps_theirs_key_order_then_keys_only_ours_has() -> None:
    base = loaded({"a": 1, "b": 2, "c": 3})
    theirs = loaded({"c": 3, "x": 9, "a": 1, "b": 2})
    ours = loaded({"y": 8, "b": 2, "a": 5})  # deleted c blind, added y, changed a
    merged = merge(base, ours, theirs, frozenset({"a"}))
    assert list(merged) == ["x", "a", "b", "y"]
    assert merged == {"x": 9, "a": 5, "b": 2, "y": 8}


# -- both sides changed a key -----------------------------------------------------


def test_a_key_both_requests_deleted_is_not_a_conflict() -> None:
    base = with_(LOGGED_IN, next_url="/orders")
    ours, theirs = with_(base, next_url=ABSENT), with_(base, next_url=ABSENT)
    assert merge(base, ours, theirs, frozenset({"next_url"})) == LOGGED_IN


def test_a_key_written_without_reading_it_is_the_last_writers() -> None:
    """``session["lang"] = "de"`` never looked at the old value, so it
    replaces whatever the other request set, as in any serial order."""
    base = with_(LOGGED_IN, lang="en", promo="SPRING")
    ours = with_(base, lang="de", promo=ABSENT)
    theirs = with_(base, lang="fr", promo="SUMMER")
    merged = merge(base, ours, theirs, frozenset({"user"}))
    assert merged["lang"] == "de"
    assert "promo" not in merged


def test_a_counter_both_requests_incremented_is_a_conflict_though_both_wrote_six() -> None:
    base = with_(LOGGED_IN, visits=5)
    ours, theirs = with_(base, visits=6), with_(base, visits=6)
    conflict = conflict_of(base, ours, theirs, frozenset({"visits"}))
    assert conflict.path == ("visits",)
    assert conflict.where == "session['visits']"


def test_a_value_both_requests_read_and_set_differently_is_a_conflict() -> None:
    base = with_(LOGGED_IN, step="address")
    conflict = conflict_of(base, with_(base, step="payment"), with_(base, step="review"), None)
    assert conflict.path == ("step",)


def test_a_counter_both_requests_created_is_a_conflict_unless_written_blind() -> None:
    ours, theirs = with_(LOGGED_IN, visits=1), with_(LOGGED_IN, visits=1)
    assert conflict_of(LOGGED_IN, ours, theirs, frozenset({"visits"})).path == ("visits",)
    assert merge(LOGGED_IN, with_(LOGGED_IN, lang="de"), with_(LOGGED_IN, lang="fr"),
                 frozenset())["lang"] == "de"


def test_permanent_is_the_last_writers_even_when_read() -> None:
    """``session.permanent`` reads ``_permanent``; a flag set twice is not a
    lost update, so it never costs a 503."""
    ours, theirs = with_(LOGGED_IN, _permanent=False), with_(LOGGED_IN, _permanent=ABSENT)
    assert merge(LOGGED_IN, ours, theirs, None)["_permanent"] is False
    base = with_(LOGGED_IN, _permanent=ABSENT)
    assert merge(base, with_(base, _permanent=True), with_(base, _permanent=True), None)["_permanent"]


# -- dicts ----------------------------------------------------------------------


def test_a_cart_merges_item_by_item() -> None:
    ours = with_(LOGGED_IN, cart={"sku-1": 3, "sku-2": 2})
    theirs = with_(LOGGED_IN, cart={"sku-1": 1, "sku-3": 1})
    merged = merge(LOGGED_IN, ours, theirs, frozenset({"cart"}))
    assert merged["cart"] == {"sku-1": 3, "sku-3": 1}


def test_an_item_count_both_requests_changed_is_a_conflict_naming_the_item() -> None:
    ours = with_(LOGGED_IN, cart={"sku-1": 2, "sku-2": 2})
    theirs = with_(LOGGED_IN, cart={"sku-1": 2, "sku-2": 2, "sku-3": 1})
    conflict = conflict_of(LOGGED_IN, ours, theirs, frozenset({"cart"}))
    assert conflict.path == ("cart", "sku-1")
    assert "session['cart']['sku-1']" in conflict.detail


def test_a_cart_both_requests_created_merges_item_by_item() -> None:
    base = with_(LOGGED_IN, cart=ABSENT)
    merged = merge(base, with_(base, cart={"sku-1": 1}), with_(base, cart={"sku-2": 1}),
                   frozenset({"cart"}))
    assert merged["cart"] == {"sku-2": 1, "sku-1": 1}


def test_a_cart_checked_out_keeps_only_what_the_other_request_changed_in_it() -> None:
    """Checkout pops the cart while another tab adds an item or changes a
    count: the new cart holds just that, not the items already ordered."""
    checkout = with_(LOGGED_IN, cart=ABSENT)
    added = with_(LOGGED_IN, cart={"sku-1": 1, "sku-2": 2, "sku-3": 1})
    recounted = with_(LOGGED_IN, cart={"sku-1": 4, "sku-2": 2})
    removed = with_(LOGGED_IN, cart={"sku-1": 1})
    reads = frozenset({"cart"})
    assert merge(LOGGED_IN, checkout, added, reads)["cart"] == {"sku-3": 1}
    assert merge(LOGGED_IN, added, checkout, reads)["cart"] == {"sku-3": 1}
    assert merge(LOGGED_IN, checkout, recounted, reads)["cart"] == {"sku-1": 4}
    assert "cart" not in merge(LOGGED_IN, checkout, removed, reads)
    assert "cart" not in merge(LOGGED_IN, removed, checkout, reads)


def test_a_dict_replaced_by_a_value_while_changed_inside_is_a_conflict() -> None:
    ours = with_(LOGGED_IN, cart=None)
    theirs = with_(LOGGED_IN, cart={"sku-1": 1, "sku-2": 2, "sku-3": 1})
    assert conflict_of(LOGGED_IN, ours, theirs, frozenset({"cart"})).path == ("cart",)
    assert conflict_of(LOGGED_IN, theirs, ours, frozenset({"cart"})).path == ("cart",)
    as_list = with_(LOGGED_IN, cart=[["sku-1", 1]])
    assert conflict_of(LOGGED_IN, as_list, theirs, None).path == ("cart",)


def test_a_value_one_request_deleted_and_the_other_changed_keeps_the_change() -> None:
    """One tab consumed ``next_url`` after login while another set a new one:
    the new one was set after the first tab loaded, so it stands."""
    base = with_(LOGGED_IN, next_url="/orders")
    consumed, renewed = with_(base, next_url=ABSENT), with_(base, next_url="/settings")
    reads = frozenset({"next_url"})
    assert merge(base, consumed, renewed, reads)["next_url"] == "/settings"
    assert merge(base, renewed, consumed, reads)["next_url"] == "/settings"


def test_dict_keys_of_ours_merge_as_they_will_be_stored() -> None:
    """A view that writes ``cart[42]`` writes the key ``"42"`` the store
    loaded: it is the same item, not a second one."""
    base = loaded({"cart": {"41": 1, "42": 1}})
    ours = {"cart": {"41": 1, "42": 1, 42: 2}}  # live data: the view wrote cart[42] = 2
    theirs = loaded({"cart": {"41": 1, "42": 1, "43": 1}})
    assert stored(merge(base, ours, theirs, None)) == stored({"cart": {"41": 1, "42": 2, "43": 1}})


# -- lists ----------------------------------------------------------------------


def test_flashes_both_requests_added_keep_both_in_the_order_saved() -> None:
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    ours = with_(base, _flashes=[WELCOME, SAVED])
    theirs = with_(base, _flashes=[WELCOME, SHIPPED])
    merged = merge(base, ours, theirs, frozenset({"_flashes"}))
    assert merged["_flashes"] == [WELCOME, SHIPPED, SAVED]
    fresh = merge(LOGGED_IN, with_(LOGGED_IN, _flashes=[SAVED]), with_(LOGGED_IN, _flashes=[SAVED]),
                  frozenset({"_flashes"}))
    assert fresh["_flashes"] == [SAVED, SAVED]


def test_a_consumed_flash_list_keeps_only_what_the_other_request_added() -> None:
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    shown = with_(base, _flashes=ABSENT)
    flashed = with_(base, _flashes=[WELCOME, SAVED])
    reads = frozenset({"_flashes"})
    assert merge(base, shown, flashed, reads)["_flashes"] == [SAVED]
    assert merge(base, flashed, shown, reads)["_flashes"] == [SAVED]
    emptied = with_(base, _flashes=[])
    assert merge(base, emptied, flashed, reads)["_flashes"] == [SAVED]


def test_a_list_consumed_then_refilled_keeps_each_sides_new_items() -> None:
    """A page that showed the flashes, then flashed a new one, against a
    request that flashed: both new messages, the welcome shown once."""
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    refilled = with_(base, _flashes=[SHIPPED])
    flashed = with_(base, _flashes=[WELCOME, SAVED])
    shown = with_(base, _flashes=ABSENT)
    reads = frozenset({"_flashes"})
    assert merge(base, refilled, flashed, reads)["_flashes"] == [SAVED, SHIPPED]
    assert merge(base, flashed, refilled, reads)["_flashes"] == [SHIPPED, SAVED]
    assert merge(base, shown, refilled, reads)["_flashes"] == [SHIPPED]


def test_a_list_both_requests_refilled_is_a_conflict() -> None:
    """Both replaced every item: they may be two rewrites of one line."""
    base = loaded({"lines": [{"sku": "sku-1", "qty": 1}]})
    ours = loaded({"lines": [{"sku": "sku-1", "qty": 2}]})
    theirs = loaded({"lines": [{"sku": "sku-1", "qty": 2}]})
    assert conflict_of(base, ours, theirs, frozenset({"lines"})).path == ("lines",)


def test_a_list_rewritten_by_one_request_and_extended_by_the_other_keeps_both() -> None:
    base = loaded({"lines": [{"sku": "sku-1", "qty": 1}]})
    ours = loaded({"lines": [{"sku": "sku-1", "qty": 2}]})
    theirs = loaded({"lines": [{"sku": "sku-1", "qty": 1}, {"sku": "sku-2", "qty": 1}]})
    merged = merge(base, ours, theirs, frozenset({"lines"}))
    assert merged["lines"] == [{"sku": "sku-2", "qty": 1}, {"sku": "sku-1", "qty": 2}]


def test_a_list_both_requests_consumed_stays_consumed_as_ours_left_it() -> None:
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    gone, emptied = with_(base, _flashes=ABSENT), with_(base, _flashes=[])
    reads = frozenset({"_flashes"})
    assert "_flashes" not in merge(base, gone, emptied, reads)
    assert merge(base, emptied, gone, reads)["_flashes"] == []


def test_a_list_shrunk_but_not_emptied_conflicts_with_any_other_change_to_it() -> None:
    """Dropping one message keeps another one the other request may have
    shown: keeping it could show it twice."""
    base = with_(LOGGED_IN, _flashes=[WELCOME, SHIPPED])
    shrunk = with_(base, _flashes=[SHIPPED])
    reads = frozenset({"_flashes"})
    for other in (with_(base, _flashes=ABSENT), with_(base, _flashes=[WELCOME, SHIPPED, SAVED]),
                  with_(base, _flashes=[SAVED])):
        assert conflict_of(base, shrunk, other, reads).path == ("_flashes",)
        assert conflict_of(base, other, shrunk, reads).path == ("_flashes",)
    assert merge(base, shrunk, with_(base, user="bob"), reads)["_flashes"] == [SHIPPED]


def test_a_list_edited_in_the_middle_conflicts_with_another_change_to_it() -> None:
    base = loaded({"lines": [{"sku": "sku-1", "qty": 1}, {"sku": "sku-2", "qty": 1}]})
    ours = loaded({"lines": [{"sku": "sku-1", "qty": 1}, {"sku": "sku-2", "qty": 5}]})
    theirs = loaded({"lines": [*base["lines"], {"sku": "sku-3", "qty": 1}]})
    assert conflict_of(base, ours, theirs, frozenset({"lines"})).path == ("lines",)


# -- values are compared as stored ---------------------------------------------


def test_values_compare_by_their_stored_form_so_one_and_true_differ() -> None:
    """``1 == 1.0 == True`` in Python, but each is stored differently: a
    request that turned 1 into 1.0 changed it."""
    base = loaded({"n": 1})
    assert conflict_of(base, {"n": 1.0}, loaded({"n": True}), None).path == ("n",)
    assert stored(merge(base, {"n": 1}, loaded({"n": True}), None)) == stored({"n": True})
    label = loaded({"label": "<b>x</b>"})
    assert type(merge(label, {"label": Markup("<b>x</b>")}, loaded(label), None)["label"]) is Markup


def test_tuples_bytes_uuids_and_datetimes_are_single_values() -> None:
    base = loaded({"pair": ("a",), "key": b"\x00", "id": UUID(int=1),
                   "at": datetime(2030, 1, 1, 12, tzinfo=timezone.utc)})
    reads = frozenset(base)
    ours = with_(base, pair=("a", "c"))
    theirs = with_(base, pair=("a", "b"))  # a tuple is not a list: no extension merge
    assert conflict_of(base, ours, theirs, reads).path == ("pair",)
    # Stored to the second: a microsecond more is no change; equal bytes and UUIDs neither.
    same = {**base, "key": b"\x00", "id": UUID(int=1), "at": datetime(2030, 1, 1, 12, 0, 0, 5)}
    changed = with_(base, key=b"\x01", id=UUID(int=2))
    assert stored(merge(base, same, changed, reads)) == stored(changed)


def test_list_items_compare_as_stored_so_a_replaced_item_is_not_the_same() -> None:
    """``("page", True) == ("page", 1)`` in Python; stored, they differ, so
    ours replaced the item rather than leaving the list alone."""
    base = loaded({"seen": [("page", 1)]})
    theirs = loaded({"seen": [("page", 1), ("page", 2)]})
    ours = {"seen": [("page", True)]}
    assert stored(merge(base, ours, theirs, None)) == stored({"seen": [("page", 2), ("page", True)]})


# -- the conflict ---------------------------------------------------------------


def test_a_conflict_is_a_retryable_503_naming_the_key_and_never_a_value() -> None:
    base = loaded({"token": "s3cr3t-old", "cart": {"sku-1": 1}})
    ours = loaded({"token": "s3cr3t-ours", "cart": {"sku-1": 1}})
    theirs = loaded({"token": "s3cr3t-theirs", "cart": {"sku-1": 1}})
    conflict = conflict_of(base, ours, theirs, None)
    assert isinstance(conflict, SaveConflict) and isinstance(conflict, StoreUnavailable)
    assert conflict.code == 503
    assert ("Retry-After", "1") in conflict.get_headers()
    text = " ".join((str(conflict), repr(conflict), conflict.detail, conflict.get_description()))
    assert "session['token']" in text
    assert "s3cr3t" not in text


def test_the_arguments_are_left_as_they_were() -> None:
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    ours = with_(base, _flashes=[WELCOME, SAVED], cart={"sku-1": 2, "sku-2": 2})
    theirs = with_(base, _flashes=ABSENT, cart={"sku-1": 1, "sku-2": 2, "sku-3": 1})
    before = [copy.deepcopy(data) for data in (base, ours, theirs)]
    merge(base, ours, theirs, None)
    assert [base, ours, theirs] == before


# -- Flask's flashes, for real ---------------------------------------------------


class PreparedSessions(SessionInterface):
    """Opens the session the test prepared; saving is the test's business."""

    def __init__(self) -> None:
        self.session: StrongboxSession | None = None

    def open_session(self, app: Flask, request: Request) -> StrongboxSession | None:
        return self.session

    def save_session(self, *args: object) -> None:
        pass


class Site:
    """Runs views in a real Flask request context on a real
    :class:`StrongboxSession` loaded from a stored session, recording which
    messages each request flashed and which it showed."""

    def __init__(self) -> None:
        self.app = Flask(__name__)
        self.app.secret_key = "test"
        self.sessions = self.app.session_interface = PreparedSessions()
        self.flashed: list[Any] = []
        self.shown: list[Any] = []

    def request(self, stored_data: dict[str, Any], view: Callable[[], object]
                ) -> tuple[dict[str, Any], frozenset[str] | None]:
        session = StrongboxSession()
        session.data.update(loaded(stored_data))
        self.sessions.session = session

        def record(sender: Flask, message: str, category: str, **extra: object) -> None:
            self.flashed.append((category, message))

        with message_flashed.connected_to(record, self.app), self.app.test_request_context():
            view()
        return session.data, None if session.reads is None else frozenset(session.reads)

    def page(self) -> None:
        """A page whose layout shows the flashes (``login_required`` reads the user)."""
        assert "user" in flask_session
        self.shown.extend(get_flashed_messages(with_categories=True))

    def submit(self, name: str) -> Callable[[], None]:
        def view() -> None:
            flask_session["display_name"] = name  # a form field, written blind
            flash("Profile saved")
        return view

    def pending_exactly_what_was_not_shown(self, base: dict[str, Any], merged: dict[str, Any]) -> bool:
        everything = Counter([*base.get("_flashes", []), *self.flashed])
        shown = set(self.shown)
        expected = Counter({message: n for message, n in everything.items() if message not in shown})
        return Counter(merged.get("_flashes", [])) == expected


def both_ways(base: dict[str, Any], first: tuple[dict[str, Any], frozenset[str] | None],
              second: tuple[dict[str, Any], frozenset[str] | None]) -> Iterator[dict[str, Any]]:
    """The merge whichever of two overlapping requests saved first."""
    yield merge(base, second[0], first[0], second[1])
    yield merge(base, first[0], second[0], first[1])


def test_two_pages_opened_after_login_both_show_the_welcome_and_leave_nothing() -> None:
    site = Site()
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    one, two = site.request(base, site.page), site.request(base, site.page)
    for merged in both_ways(base, one, two):
        assert merged == LOGGED_IN
        assert site.pending_exactly_what_was_not_shown(base, merged)


def test_a_double_clicked_form_that_flashes_keeps_both_messages() -> None:
    site = Site()
    for base in (LOGGED_IN, with_(LOGGED_IN, _flashes=[WELCOME])):
        site.flashed.clear()
        one = site.request(base, site.submit("Alice A."))
        two = site.request(base, site.submit("Alice A."))
        for merged in both_ways(base, one, two):
            assert merged["display_name"] == "Alice A."
            assert merged["_flashes"] == [*base.get("_flashes", []), SAVED, SAVED]
            assert site.pending_exactly_what_was_not_shown(base, merged)


def test_a_double_clicked_form_that_renders_its_own_flash_leaves_nothing() -> None:
    site = Site()
    base = with_(LOGGED_IN, _flashes=[WELCOME])

    def submit_and_render() -> None:
        site.submit("Alice A.")()
        site.page()

    one, two = site.request(base, submit_and_render), site.request(base, submit_and_render)
    for merged in both_ways(base, one, two):
        assert "_flashes" not in merged
        assert site.pending_exactly_what_was_not_shown(base, merged)


def test_a_page_showing_the_flashes_while_a_form_flashes_loses_and_repeats_nothing() -> None:
    site = Site()
    base = with_(LOGGED_IN, _flashes=[WELCOME])
    page, form = site.request(base, site.page), site.request(base, site.submit("Al"))
    for merged in both_ways(base, page, form):
        assert merged["_flashes"] == [SAVED]
        assert merged["display_name"] == "Al"
        assert site.pending_exactly_what_was_not_shown(base, merged)


def test_a_page_that_shows_then_flashes_while_a_form_flashes_keeps_both_new_messages() -> None:
    site = Site()
    base = with_(LOGGED_IN, _flashes=[WELCOME])

    def show_then_flash() -> None:
        site.page()
        flash("Your order shipped", "info")

    page, form = site.request(base, show_then_flash), site.request(base, site.submit("Al"))
    merged_form_first, merged_page_first = both_ways(base, form, page)
    assert merged_form_first["_flashes"] == [SAVED, SHIPPED]
    assert merged_page_first["_flashes"] == [SHIPPED, SAVED]
    for merged in (merged_form_first, merged_page_first):
        assert site.pending_exactly_what_was_not_shown(base, merged)


# -- the reference model ---------------------------------------------------------
# The rules stated as plainly as possible: values are equal if they serialize
# alike; classify how each side changed a value, then look the pair up.


class ModelConflict(Exception):
    pass


def same(a: Any, b: Any) -> bool:
    if a is ABSENT or b is ABSENT:
        return a is b
    return serialization.dumps({"": a}) == serialization.dumps({"": b})


def change(base: Any, side: Any) -> str:
    """How ``side`` changed ``base`` (they differ)."""
    if side is ABSENT:
        return "deleted"
    if isinstance(side, dict) and (base is ABSENT or isinstance(base, dict)):
        return "dict"
    if isinstance(side, list) and (base is ABSENT or isinstance(base, list)):
        old = [] if base is ABSENT else base
        if len(side) >= len(old) and all(same(a, b) for a, b in zip(old, side)):
            return "appended"
        if side == []:
            return "emptied"
        if not any(same(a, b) for a in old for b in side):
            return "refilled"
        return "edited"
    return "value"


RULES: dict[frozenset[str], str] = {
    frozenset({"deleted"}): "deleted",
    frozenset({"deleted", "value"}): "the value",
    frozenset({"dict"}): "merge the dicts",
    frozenset({"deleted", "dict"}): "merge the dicts",
    frozenset({"appended"}): "base, then theirs' items, then ours'",
    frozenset({"appended", "deleted"}): "theirs' items, then ours'",
    frozenset({"appended", "emptied"}): "theirs' items, then ours'",
    frozenset({"appended", "refilled"}): "theirs' items, then ours'",
    frozenset({"refilled", "deleted"}): "theirs' items, then ours'",
    frozenset({"refilled", "emptied"}): "theirs' items, then ours'",
    frozenset({"deleted", "emptied"}): "ours",
    frozenset({"emptied"}): "ours",
    # Anything else is a conflict: two values, two refills, an edited list,
    # a dict or list against a value.
}


def model(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any],
          reads: frozenset[str] | None) -> dict[str, Any]:
    ours = loaded(ours)
    if same(ours, base):
        return theirs
    if same(theirs, base):
        return ours
    blind = {key for key in ours if key == "_permanent" or (reads is not None and key not in reads)}
    blind |= {key for key in base if key == "_permanent" or (reads is not None and key not in reads)}
    return model_dict(base, ours, theirs, blind)


def model_dict(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any],
               blind: set[str]) -> dict[str, Any]:
    result = {}
    for key in [*theirs, *(key for key in ours if key not in theirs)]:
        value = model_value(base.get(key, ABSENT), ours.get(key, ABSENT), theirs.get(key, ABSENT),
                            key in blind)
        if value is not ABSENT:
            result[key] = value
    return result


def model_value(base: Any, ours: Any, theirs: Any, blind: bool) -> Any:
    if same(ours, base):
        return theirs
    if same(theirs, base) or blind:
        return ours
    ours_change, theirs_change = change(base, ours), change(base, theirs)
    rule = RULES.get(frozenset({ours_change, theirs_change}))
    old = [] if base is ABSENT or not isinstance(base, list) else base

    def added(side: list[Any], how: str) -> list[Any]:
        if how == "appended":
            return side[len(old):]
        return side if how == "refilled" else []

    if rule is None:
        raise ModelConflict
    if rule == "deleted":
        return ABSENT
    if rule == "the value":
        return ours if ours_change == "value" else theirs
    if rule == "ours":
        return ours
    if rule == "merge the dicts":
        merged = model_dict({} if base is ABSENT else base, {} if ours is ABSENT else ours,
                            {} if theirs is ABSENT else theirs, set())
        one_deleted = "deleted" in (ours_change, theirs_change)
        return ABSENT if one_deleted and not merged else merged
    if rule == "base, then theirs' items, then ours'":
        return [*old, *added(theirs, theirs_change), *added(ours, ours_change)]
    return [*added(theirs, theirs_change), *added(ours, ours_change)]


# -- generated requests ----------------------------------------------------------

KEYS = ("_flashes", "cart", "n", "_permanent")
FIELDS = ("a", "b")
VALUES: tuple[Any, ...] = (
    0, 1, 1.0, -0.0, True, False, None, "x", "", b"x", ("x",), (1, 1.0), Markup("x"), UUID(int=1),
    datetime(2030, 1, 1, tzinfo=timezone.utc), {"a": 1}, [("message", "m0")], [],
)
ITEMS = (("message", "m0"), ("message", "m1"), ("info", "m0"), ["message", "m0"])
OPERATIONS = (
    "set", "delete", "increment", "set field", "delete field", "append", "consume", "empty", "drop first",
    "read all",
)
# One flat tuple per operation (name, key, field, value, item), each using
# what it needs: drawing it is cheap, and it shrinks well. Lists and dicts
# come up more often than values, as they have more cases.
operation = st.tuples(
    st.sampled_from((*OPERATIONS, *["append"] * 4, "consume", "set field", "set field")),
    st.sampled_from((*KEYS, "_flashes", "_flashes", "cart")),
    *map(st.sampled_from, (FIELDS, VALUES, ITEMS)),
)
operations = st.lists(operation, max_size=6)
reads_of_keys = st.none() | st.frozensets(st.sampled_from(KEYS))


def apply(operations: list[tuple[Any, ...]], data: dict[str, Any]
          ) -> tuple[dict[str, Any], frozenset[str] | None]:
    """One request: the operations on a real session loaded from ``data``,
    as views write them; returns what it would save and what it read."""
    session = StrongboxSession()
    session.data.update(loaded(data))
    for name, key, field, value, item in copy.deepcopy(operations):
        if name == "set":  # session[key] = value
            session[key] = value
        elif name == "delete":  # a logout-style removal, never read
            session.data.pop(key, None)
        elif name == "increment":  # session[key] = session.get(key, 0) + 1
            count = session.get(key)
            session[key] = count + 1 if type(count) is int else 1
        elif name == "set field":  # session.setdefault(key, {})[field] = value
            if not isinstance(session.get(key), dict):
                session[key] = {}
            session[key][field] = value
        elif name == "delete field":
            if isinstance(session.get(key), dict):
                session[key].pop(field, None)
        elif name == "append":  # flash(): get, append, set
            items = session.get(key, [])
            items = items if isinstance(items, list) else []
            items.append(item)
            session[key] = items
        elif name == "consume":  # get_flashed_messages(): pop
            session.pop(key, None)
        elif name == "empty":  # session[key] = [] after a look
            if isinstance(session.get(key), list):
                session[key] = []
        elif name == "drop first":  # a queue: session[key].pop(0)
            if isinstance(session.get(key), list) and session[key]:
                del session[key][0]
        else:  # dict(session)
            dict(session)
    return session.data, None if session.reads is None else frozenset(session.reads)


# Requests on one flash list only: every way two sides can change a list.
list_operation = st.tuples(
    st.sampled_from(("append", "append", "consume", "empty", "drop first", "set")), st.just("_flashes"),
    st.just("a"), st.sampled_from(([("message", "m0")], [("message", "m1"), ("info", "m0")], [])),
    st.sampled_from(ITEMS),
)


@st.composite
def overlapping_requests(draw: st.DrawFn, step: st.SearchStrategy[tuple[Any, ...]] = operation
                         ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], frozenset[str] | None]:
    """A stored session, and two requests that loaded it; theirs may have
    loaded a later version, saved by a request in between."""
    steps = st.lists(step, max_size=4)
    base = loaded(apply(draw(st.lists(step, min_size=2, max_size=8)), {})[0])
    between = loaded(apply(draw(steps), base)[0])
    theirs, _ = apply(draw(steps), between)
    ours, reads = apply(draw(steps), base)
    return base, ours, loaded(theirs), reads


def outcome(function: Callable[..., dict[str, Any]], *args: Any) -> bytes | None:
    """The stored form of the merge, or ``None`` for a conflict."""
    try:
        return stored(function(*args))
    except (MergeConflict, ModelConflict):
        return None


def leaf_changes(base: Any, side: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every value ``side`` changed, down through the dicts both have."""
    for name in {**dict.fromkeys(base), **dict.fromkeys(side)}:
        was, now = base.get(name, ABSENT), side.get(name, ABSENT)
        if isinstance(was, dict) and isinstance(now, dict):
            yield from leaf_changes(was, now, (*path, name))
        elif not same(was, now):
            yield (*path, name), now


def at(data: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(data, dict) or name not in data:
            return ABSENT
        data = data[name]
    return data


def dicts_along(data: Any, path: tuple[str, ...]) -> bool:
    return all(isinstance(at(data, path[:depth]), dict) for depth in range(len(path)))


@pytest.mark.slow
@_PROPERTIES
@given(overlapping_requests() | overlapping_requests(list_operation))
def test_generated_merges_agree_with_the_model_and_keep_every_lone_change(requests: tuple[Any, ...]) -> None:
    """Two requests overlapped on one session. The merge is the reference
    model's (both conflict, or both give the same stored session); a
    conflict is only ever on a key this request read; and a value one request
    changed where the other left it, and every dict above it, in place (and
    did not overwrite its key blind) is in the merge as that request left it."""
    base, ours, theirs, reads = requests
    expected = outcome(model, base, ours, theirs, reads)
    try:
        merged = merge(base, ours, theirs, reads)
    except MergeConflict as conflict:
        assert expected is None
        assert conflict.path[0] != "_permanent"
        assert reads is None or conflict.path[0] in reads
        return
    assert stored(merged) == expected
    ours = loaded(ours)
    blind = {name for name in {**base, **ours} if reads is not None and name not in reads}
    overwritten = {name for name in blind if not same(base.get(name, ABSENT), ours.get(name, ABSENT))}
    for changer, other in ((theirs, ours), (ours, theirs)):
        for path, value in leaf_changes(base, changer):
            untouched = same(at(other, path), at(base, path)) and dicts_along(other, path)
            if untouched and (changer is ours or path[0] not in overwritten):
                assert same(at(merged, path), value), path


M0, M1, M2 = ("message", "m0"), ("message", "m1"), ("info", "m2")
#: Small values of every kind the rules tell apart, as base, ours or theirs.
UNIVERSE: tuple[Any, ...] = (
    ABSENT, 1, True, {}, {"a": 1}, {"a": 2}, {"b": 1}, {"a": [M0]}, [], [M0], [M0, M1], [M1], [M2],
)


def test_every_small_case_of_one_key_agrees_with_the_model() -> None:
    """Every base, ours and theirs value of one key drawn from the small
    universe above, read or written blind: the rule table, exhaustively."""
    sessions = [{} if value is ABSENT else {"k": value} for value in UNIVERSE]
    for base, ours, theirs in itertools.product(map(loaded, sessions), sessions, map(loaded, sessions)):
        for reads in (None, frozenset[str]()):
            expected = outcome(model, base, ours, theirs, reads)
            assert outcome(merge, base, ours, theirs, reads) == expected, (base, ours, theirs, reads)


@_SIMPLER_PROPERTIES
@given(base_operations=operations, their_operations=operations, reads=reads_of_keys)
def test_generated_sides_without_changes_give_back_the_other_side_exactly(
    base_operations: list[tuple[Any, ...]], their_operations: list[tuple[Any, ...]],
    reads: frozenset[str] | None,
) -> None:
    base = loaded(apply(base_operations, {})[0])
    changed = loaded(apply(their_operations, base)[0])
    assert stored(merge(base, loaded(base), changed, reads)) == stored(changed)
    assert stored(merge(base, changed, loaded(base), reads)) == stored(changed)


SCALARS = st.sampled_from([0, 1, 1.0, True, False, None, "x", "", b"x", ("x",), Markup("x"), UUID(int=1)])


@_SIMPLER_PROPERTIES
@given(base_operations=operations, name=st.sampled_from(KEYS), nested=st.booleans(),
       ours_value=SCALARS, their_value=SCALARS)
def test_a_value_both_sides_changed_always_conflicts_when_everything_was_read(
    base_operations: list[tuple[Any, ...]], name: str, nested: bool, ours_value: Any, their_value: Any,
) -> None:
    assume(name != "_permanent")
    base = loaded(apply(base_operations, {})[0])
    path = (name, "a") if nested and isinstance(base.get(name), dict) else (name,)
    assume(not same(at(base, path), ours_value) and not same(at(base, path), their_value))
    ours, theirs = loaded(base), loaded(base)
    for side, value in ((ours, ours_value), (theirs, their_value)):
        (side[name] if len(path) == 2 else side)[path[-1]] = value
    assert conflict_of(base, ours, theirs, None).path == path


@_SIMPLER_PROPERTIES
@given(
    tagged=st.sampled_from([1, 1.0, True, 0, 0.0, -0.0, False, math.nan, math.inf, "1", Markup("1"), b"1",
                            None, UUID(int=1), datetime(2030, 1, 1, tzinfo=timezone.utc),
                            datetime(2030, 1, 1, 0, 0, 0, 7), ("1",), (1,), (1.0,), (True,), ([1],),
                            ({"a": 1},), ({"a": 1.0},), ({"a": 1, "b": 2},), ({"b": 2, "a": 1},)]),
    other=st.sampled_from([1, 1.0, True, 0.0, -0.0, math.nan, "1", Markup("1"), b"1", (1,), (1.0,), ([1],),
                           ([1.0],), ({"a": 1},), ({"b": 2, "a": 1},),
                           datetime(2030, 1, 1, tzinfo=timezone.utc)]),
)
def test_a_value_counts_as_changed_exactly_when_it_is_stored_differently(tagged: Any, other: Any) -> None:
    base = loaded({"v": tagged})
    theirs = loaded({"v": "another request's value"})
    stored_alike = stored({"v": other}) == stored(base)
    assert outcome(merge, base, {"v": other}, theirs, None) == (stored(theirs) if stored_alike else None)


# -- flashes, generated ---------------------------------------------------------


@st.composite
def flash_requests(draw: st.DrawFn) -> list[list[str]]:
    """What three requests do, in order: flash a message or show the page."""
    return [draw(st.lists(st.sampled_from(["flash", "show"]), max_size=4)) for _ in range(3)]


@_SIMPLER_PROPERTIES
@given(pending=st.integers(0, 2), requests=flash_requests())
def test_flashes_are_never_lost_or_left_to_show_again(pending: int, requests: list[list[str]]) -> None:
    """Theirs (after a request in between) and ours overlap, each flashing
    and showing messages with Flask's own functions: the merged session holds
    exactly the messages no request showed. Only two requests that each
    showed the old messages and then flashed new ones conflict."""
    site = Site()
    base = with_(LOGGED_IN, _flashes=[("message", f"old {n}") for n in range(pending)] or ABSENT)
    counter = iter(range(100))

    def view(steps: list[str]) -> Callable[[], None]:
        def run() -> None:
            for step in steps:
                if step == "flash":
                    flash(f"new {next(counter)}")
                else:
                    site.page()
        return run

    between = loaded(site.request(base, view(requests[0]))[0])
    theirs, _ = site.request(between, view(requests[1]))
    ours, reads = site.request(base, view(requests[2]))
    theirs = loaded(theirs)
    old = set(base.get("_flashes", []))
    if old and all(side.get("_flashes") and old.isdisjoint(side["_flashes"]) for side in (ours, theirs)):
        conflict_of(base, ours, theirs, reads)
        return
    merged = merge(base, ours, theirs, reads)
    assert site.pending_exactly_what_was_not_shown(base, merged)
    new = [message for _, message in merged.get("_flashes", []) if message.startswith("new")]
    ours_new = {message for _, message in ours.get("_flashes", [])}
    assert sorted(new, key=lambda message: message in ours_new) == new  # theirs' first
