"""A griffe extension: the docstrings' reStructuredText habits, read as Markdown.

The docstrings are Google style with two reStructuredText habits, which this extension
turns into Markdown for the API pages (the source stays as it is, for ``help()`` and
doctest):

* **Roles** name other objects the Sphinx way (``:func:`adaptive_loop```,
  ``:class:`~pact_core.HaltingSettings```). Each becomes an *optional* mkdocs-autorefs
  reference in inline code: a link where the object is documented on the site, plain
  code where it is not (a private helper, torch), so an object left out of the
  reference never fails the strict build. A short name is looked up where Sphinx would
  look: the package's root (its public API), then the docstring's module, then its
  class.
* **Literal blocks** (a paragraph ending in ``::`` and an indented block) become fenced
  code blocks: doctest sessions as ``pycon``, command lines as ``bash``. ``Example::``
  stays a heading in the text rather than a Google "Examples" section, whose parser
  would read a command line as prose.
"""

from __future__ import annotations

import html
import re
from functools import partial
from typing import Any

from griffe import AliasResolutionError, CyclicAliasError, Extension, Module, Object

ROLE = re.compile(r":(?:py:)?(?:func|class|data|mod|meth|attr|exc|obj|const):`(?P<target>[^`]+)`")


def _has(scope: Object, path: str) -> bool:
    """Whether ``path`` (dotted, from ``scope``) names a member of the loaded package."""
    try:
        scope[path]
    except (KeyError, AliasResolutionError, CyclicAliasError):
        return False
    return True


def _identifier(obj: Object, target: str) -> str:
    """The full identifier ``target`` names from ``obj``'s docstring."""
    target = target.lstrip(".")
    package = obj.package
    if target.split(".", 1)[0] == package.name or target.startswith("pact_"):
        return target
    scopes: list[Object] = [package]
    module = obj.module
    if module is not package:
        scopes.append(module)
    parent = obj if obj.is_class else obj.parent
    if isinstance(parent, Object) and parent.is_class:
        scopes.append(parent)
    for scope in scopes:
        if _has(scope, target):
            return f"{scope.path}.{target}"
    return target


def _link(match: re.Match[str], *, obj: Object) -> str:
    written = match["target"]
    short = written.startswith("~")
    target = written.lstrip("~")
    title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
    identifier = html.escape(_identifier(obj, target), quote=True)
    code = f"<code>{html.escape(title)}</code>"
    return f'<autoref identifier="{identifier}" optional>{code}</autoref>'


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _language(block: list[str]) -> str:
    first = block[0].lstrip()
    if first.startswith(">>>"):
        return "pycon"
    if first.startswith(("python ", "pip ", "nox ", "torchrun ")):
        return "bash"
    return "text"


def literal_blocks(text: str) -> str:
    """``text`` with each ``paragraph::`` + indented block as a fenced code block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        start = i + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        marker = line.rstrip().endswith("::") and line.strip() != "::"
        if not marker or start >= len(lines) or _indent(lines[start]) <= _indent(line):
            out.append(line)
            i += 1
            continue
        head = line.rstrip()[:-1]  # "Example::" -> "Example:"
        if head.strip() in ("Example:", "Examples:", "Usage:"):
            head = " " * _indent(line) + f"**{head.strip()}**"
        end = start
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > _indent(line)):
            end += 1
        while end > start and not lines[end - 1].strip():
            end -= 1
        block = lines[start:end]
        cut = min(_indent(b) for b in block if b.strip())
        pad = " " * _indent(line)
        out += [head, "", f"{pad}```{_language(block)}"]
        out += [pad + b[cut:] if b.strip() else "" for b in block]
        out += [f"{pad}```"]
        i = end
    return "\n".join(out)


class SphinxRoles(Extension):
    """Rewrites roles and literal blocks in every docstring of a loaded package."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and everything in it."""
        stack: list[Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.docstring is not None:
                text = literal_blocks(obj.docstring.value)
                obj.docstring.value = ROLE.sub(partial(_link, obj=obj), text)
            stack.extend(m for m in obj.members.values() if isinstance(m, Object))
