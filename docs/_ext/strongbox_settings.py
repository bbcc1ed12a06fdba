"""``.. strongbox-settings::``: the table of ``STRONGBOX_*`` settings, made
from :class:`flask_strongbox.settings.Settings` at build time.

Each row is one dataclass field: the config key (``STRONGBOX_`` and the field
name upper-cased, as ``Settings.from_config`` reads it), the field's type and
default, and its ``#:`` doc comment, parsed as reST. A field without a doc
comment is a build warning, and so an error under ``-W``: the table cannot
drift from the code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def describe_default(field: dataclasses.Field[Any]) -> str:
    """The field's default as reST: a duration in words, a callable by name,
    anything else as its Python literal."""
    if field.default is not dataclasses.MISSING:
        value: Any = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "*(required)*"
    if isinstance(value, timedelta):
        return duration(value)
    if callable(value):
        return f"``{_qualified_name(value)}``"
    return f"``{value!r}``"


def duration(value: timedelta) -> str:
    """``timedelta(days=31)`` as "31 days", ``timedelta(seconds=90)`` as "90 seconds"."""
    seconds = value.total_seconds()
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _qualified_name(value: Callable[..., Any]) -> str:
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", repr(value))
    return f"{module}.{name}" if module and module != "builtins" else name


class StrongboxSettings(SphinxDirective):
    """Insert the settings table. Takes no arguments."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from flask_strongbox.settings import Settings

        analyzer = ModuleAnalyzer.for_module(Settings.__module__)
        comments = analyzer.find_attr_docs()
        self.env.note_dependency(analyzer.srcname)
        rows = []
        for field in dataclasses.fields(Settings):
            doc = comments.get((Settings.__name__, field.name))
            if not doc or not "".join(doc).strip():
                logger.warning(
                    "Settings.%s has no #: doc comment; the settings table needs one",
                    field.name, location=self.get_location(),
                )
                doc = ["*(undocumented)*"]
            rows.append((field, [line for line in doc if line.strip()]))
        return self._parse(self._table(rows))

    def _table(self, rows: list[tuple[dataclasses.Field[Any], list[str]]]) -> list[str]:
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 25 20 55",
            "   :class: strongbox-settings",
            "",
            "   * - Setting",
            "     - Default",
            "     - Meaning",
        ]
        for field, doc in rows:
            lines += [
                f"   * - .. _setting-{field.name}:",
                "",
                f"       ``STRONGBOX_{field.name.upper()}``",
                "",
                f"       *{_annotation(field)}*",
                f"     - {describe_default(field)}",
                f"     - {doc[0]}",
                *(f"       {line}" for line in doc[1:]),
            ]
        return lines

    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        source = StringList(lines, source="<strongbox-settings>")
        nested_parse_with_titles(self.state, source, container)
        return list(container.children)


def _annotation(field: dataclasses.Field[Any]) -> str:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    return kind.replace("|", r"\|").replace("*", r"\*")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("strongbox-settings", StrongboxSettings)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
