"""``flask_strongbox.__all__`` lists exactly the public names the package defines."""

from __future__ import annotations

import inspect

import flask_strongbox


def test_all_lists_every_public_class_and_function_and_nothing_else() -> None:
    defined = {
        name for name, value in vars(flask_strongbox).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith("flask_strongbox")
    }
    objects = {"signals", "session"}  # a module, and flask.session typed
    assert set(flask_strongbox.__all__) == defined | objects
    assert all(hasattr(flask_strongbox, name) for name in flask_strongbox.__all__)


def test_the_testing_kit_lists_what_it_defines_and_the_memory_store() -> None:
    from flask_strongbox import testing

    defined = {
        name for name, value in vars(testing).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == testing.__name__
    }
    assert set(testing.__all__) == defined | {"MemoryStore"}
    assert all(hasattr(testing, name) for name in testing.__all__)
