"""Setting one value in a TOML settings file as text (pure), keeping its comments and layout:
`monitor eval same-story --apply` writes the calibrated threshold this way."""

from __future__ import annotations

import re

TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
ANY_HEADER = re.compile(r"^\s*\[")


def set_toml_value(text: str, table: str, key: str, literal: str) -> str:
    """`text` with `key = literal` in `[table]`: the key's line replaced (its comment kept), or
    added after the table's header, or a new table appended at the end."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if is_header(line, table)), None)
    if start is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        return f"{prefix}\n[{table}]\n{key} = {literal}\n"
    end = next((i for i in range(start + 1, len(lines)) if ANY_HEADER.match(lines[i])), len(lines))
    assignment = re.compile(rf"^(\s*{re.escape(key)}\s*=\s*)([^#\n]*?)(\s*(#.*)?)(\n?)$")
    for i in range(start + 1, end):
        found = assignment.match(lines[i])
        if found:
            head, _old, tail, _comment, newline = found.groups()
            lines[i] = f"{head}{literal}{tail}{newline}"
            return "".join(lines)
    lines.insert(start + 1, f"{key} = {literal}\n")
    return "".join(lines)


def is_header(line: str, table: str) -> bool:
    found = TABLE_HEADER.match(line)
    return bool(found) and found.group(1) == table if found else False
