"""``<tag>`` substitution among a filter's or action's options, as fail2ban performs it.

Every option value may contain ``<name>`` tags naming other options. Tags are replaced until
no replaceable tag is left, which allows nesting such as ``<mdre-<mode>>`` (the inner tag is
replaced first, and the outer one on a later pass) and section-qualified names such as
``<lt_file/__prefix_line>`` or ``<known/failregex>``, which a ``fallback`` callable resolves.
Tags that nothing defines (``<HOST>``, ``<F-USER>``, ...) are left as they are.

Options are processed in mapping order and a replaced value is visible to the options after
it, so the result is identical to fail2ban's for the same input order. A tag that refers to
itself, directly or after more than :data:`MAX_REPLACEMENTS` substitutions of the same tag in
one option, is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

__all__ = ["MAX_LENGTH", "MAX_REPLACEMENTS", "TagLoopError", "substitute_tags"]

MAX_REPLACEMENTS = 25
#: a value growing past this many characters is an error (fail2ban has no limit and can
#: exhaust memory on nested tags that double at each level)
MAX_LENGTH = 1_000_000
_TAG = re.compile(r"<([^ <>]+)>")


class TagLoopError(ValueError):
    """Tags that refer to themselves, or expand without bound, and cannot be resolved."""

    def __init__(self, option: str, tag: str, why: str = "") -> None:
        why = why or f"tag <{tag}> refers to itself (directly or in a loop)"
        super().__init__(f"option {option!r}: {why}")
        self.option = option
        self.tag = tag


def substitute_tags(
    options: Mapping[str, str],
    *,
    ignore: Iterable[str] = (),
    fallback: Callable[[str], str | None] | None = None,
    condition: str = "",
) -> dict[str, str]:
    """Return a copy of ``options`` with every resolvable ``<tag>`` replaced.

    ``ignore`` names options neither substituted nor used as replacements. ``fallback`` is
    asked for tags that are not options. With ``condition`` (e.g. ``family=inet6``), an option
    ``tag?family=inet6`` is preferred over ``tag``.
    """
    tags = dict(options)
    skip = set(ignore)
    done: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    repeat = True
    while repeat:
        repeat = False
        for name in list(tags):
            if name in skip or name in done:
                continue
            original = value = tags[name]
            replaced = counts.get(name, {})
            match = _TAG.search(value)
            while match:
                tag = match.group(1)
                if tag in skip:
                    match = _TAG.search(value, match.end())
                    continue
                if tag == name or replaced.get(tag, 1) > MAX_REPLACEMENTS:
                    raise TagLoopError(name, tag)
                replacement = tags.get(f"{tag}?{condition}") if condition else None
                if replacement is None:
                    replacement = tags.get(tag)
                    if replacement is None and fallback is not None:
                        replacement = fallback(tag)
                if replacement is None:
                    match = _TAG.search(value, match.end())
                    continue
                value = value.replace(f"<{tag}>", replacement)
                if len(value) > MAX_LENGTH:
                    raise TagLoopError(
                        name, tag, f"expanding <{tag}> makes it longer than {MAX_LENGTH} characters"
                    )
                replaced[tag] = replaced.get(tag, 0) + 1
                match = _TAG.search(value, match.start())
            if value != original:
                if _TAG.search(value):
                    counts[name] = replaced
                    repeat = True
                tags[name] = value
            if "<" not in value:
                done.add(name)
    return tags
