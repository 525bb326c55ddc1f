"""docutils nodes the generated pages are built from: sections, tables and
paragraphs, so a directive's output is the same under MyST and reStructuredText."""
from docutils import nodes


def section(document, title: str, *, ids_from: str = None) -> nodes.section:
    """A section with a unique anchor (ids_from names it; default the title),
    so it shows in the page's table of contents and can be linked."""
    node = nodes.section()
    node += nodes.title(text=title)
    node["names"].append(nodes.fully_normalize_name(ids_from or title))
    document.note_implicit_target(node, node)
    return node


def paragraph(*parts) -> nodes.paragraph:
    """A paragraph from strings and inline nodes; `code` in a string (as
    bwbench's help texts and the schema's descriptions mark it) is set as code."""
    node = nodes.paragraph()
    for part in parts:
        node += inline(part) if isinstance(part, str) else [part]
    return node


def inline(text: str) -> list:
    """Text with its `backquoted` spans as literals (all of it plain if a backquote is unpaired)."""
    pieces = text.split("`")
    if len(pieces) % 2 == 0:
        return [nodes.Text(text)]
    return [nodes.literal(text=piece) if i % 2 else nodes.Text(piece) for i, piece in enumerate(pieces) if piece]


def table(headers, rows, title: str = None) -> nodes.table:
    """A table; each cell a string or a node."""
    group = nodes.tgroup(cols=len(headers))
    group += [nodes.colspec(colwidth=1) for _ in headers]
    head, body = nodes.thead(), nodes.tbody()
    head += _row(headers)
    body += [_row(row) for row in rows]
    group += [head, body]
    node = nodes.table(classes=["generated"])
    if title:
        node += nodes.title(text=title)
    node += group
    return node


def _row(cells) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.Element) and not isinstance(cell, nodes.Inline) else paragraph(cell)
        row += entry
    return row
