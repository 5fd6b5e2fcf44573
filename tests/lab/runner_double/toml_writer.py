# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small TOML encoder: what the runner double writes when it rewrites config.toml.

tomllib only reads. Like the real runner's encoder, this one writes the whole
document from data (comments and original formatting are gone): top-level
scalars first, then tables, then arrays of tables, nested headers indented by
two spaces per level. Anything tomllib produces can be written and reads back
equal.
"""

from __future__ import annotations

import datetime
import math
import re

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


class TomlEncodeError(TypeError):
    """A value TOML cannot hold (None, an unknown type, a non-string key)."""


def quote_string(text):
    out = []
    for char in text:
        if char in ESCAPES:
            out.append(ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\u%04X" % ord(char))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_key(key):
    if not isinstance(key, str):
        raise TomlEncodeError("TOML keys must be strings, got %r" % (key,))
    return key if BARE_KEY.fullmatch(key) else quote_string(key)


def format_datetime(value):
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def format_float(value):
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    return text if ("." in text or "e" in text) else text + ".0"


def format_value(value, path):
    """An inline value (scalars, arrays, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, datetime.datetime):
        return format_datetime(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(item, path + "[]") for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join("%s = %s" % (format_key(key), format_value(item, path + "." + str(key)))
                          for key, item in value.items())
        return "{" + (" " + items + " " if items else "") + "}"
    raise TomlEncodeError("cannot write %r at %s as TOML (type %s)" % (value, path or "top level", type(value).__name__))


def is_table_array(value):
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(item, dict) for item in value)


def write_table(lines, table, header_path, depth):
    """Append a table's lines: its plain keys, then sub-tables, then arrays of tables."""
    indent = "  " * (depth + 1)
    plain = [(key, value) for key, value in table.items() if not isinstance(value, dict) and not is_table_array(value)]
    tables = [(key, value) for key, value in table.items() if isinstance(value, dict)]
    arrays = [(key, value) for key, value in table.items() if is_table_array(value)]
    for key, value in plain:
        lines.append("%s%s = %s" % (indent, format_key(key), format_value(value, ".".join(header_path + [key]))))
    for key, value in tables:
        path = header_path + [format_key(key)]
        lines.append("")
        lines.append("%s[%s]" % ("  " * (depth + 1), ".".join(path)))
        write_table(lines, value, path, depth + 1)
    for key, value in arrays:
        path = header_path + [format_key(key)]
        for item in value:
            lines.append("")
            lines.append("%s[[%s]]" % ("  " * (depth + 1), ".".join(path)))
            write_table(lines, item, path, depth + 1)


def dumps(document):
    """The TOML text of a mapping (as tomllib returns it)."""
    if not isinstance(document, dict):
        raise TomlEncodeError("a TOML document is a table, got %s" % type(document).__name__)
    lines = []
    write_table(lines, document, [], -1)
    while lines and lines[0] == "":
        lines.pop(0)
    return "\n".join(lines) + "\n"
