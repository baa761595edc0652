"""This module bounds how large a Gemini schema may grow once every ``$ref`` in it is inlined.

Gemini's schema subset has no references, so schema.py inlines them. The
rewrite shares each converted definition, but the request body is serialised
fully expanded, so the bounds here count the expanded form: a shared part is
counted again at every place it is used. Past a bound the schema is refused
with a 400 that names its owner (the tool, or response_format).
"""

from __future__ import annotations

from ...errors import GatewayError

# Inlining is what makes a schema large: definitions that refer to each other in a diamond (A's two
# properties are both B, B's two are both C...) double at every level, and 2 KB of JSON Schema can
# expand to millions of nodes. Conversion shares each definition, but the body is serialised fully
# expanded, so these bound the expanded form. Real tool schemas are tens to a few thousand nodes.
MAX_EXPANDED_NODES = 20_000
# Text (descriptions, enum values, defaults) is repeated with every inlined copy too: one long
# description in a definition reached 10,000 times is 10,000 long descriptions.
MAX_EXPANDED_CHARS = 2_000_000
# Nesting, counting each $ref followed. Real schemas are a dozen or two levels deep; the rewrite and
# the later json.dumps recurse on a greenlet's stack, so an absurd depth must stop here as a 400
# rather than as a RecursionError (a 500).
MAX_DEPTH = 100


class ExpansionBudget:
    """The running size of one schema's expanded output, and the check against the bounds."""

    __slots__ = ("owner", "field", "nodes", "chars", "deepest")

    def __init__(self, owner: str, field: str):
        self.owner = owner
        self.field = field
        self.nodes = 0  # of the output as it will be serialised, shared parts counted at each use
        self.chars = 0
        self.deepest = 0  # the deepest level reached since the innermost $ref being inlined began

    def deepen(self, depth: int):
        self.deepest = max(self.deepest, depth)
        if depth > MAX_DEPTH:
            raise self._refuse(f"is nested more than {MAX_DEPTH} levels deep (counting each $ref followed)")

    def grow(self, node: dict) -> dict:
        """Count one new output node (its children were counted when they were made)."""
        self.count(1, own_chars(node))
        return node

    def count(self, nodes: int, chars: int):
        self.nodes += nodes
        self.chars += chars
        if self.nodes > MAX_EXPANDED_NODES or self.chars > MAX_EXPANDED_CHARS:
            limit = (f"{MAX_EXPANDED_NODES:,} schema nodes" if self.nodes > MAX_EXPANDED_NODES
                     else f"{MAX_EXPANDED_CHARS:,} characters")
            raise self._refuse(f"is too large when expanded: more than {limit} once every $ref is inlined")

    def _refuse(self, problem: str) -> GatewayError:
        return GatewayError(400, f"{self.owner} {problem}. Gemini's schema subset has no references, so the "
                                 "gateway inlines each $ref; send a smaller or less nested schema, or one whose "
                                 "definitions are reused in fewer places", param=self.field)


def own_chars(node: dict) -> int:
    """Roughly how many characters ``node`` adds when serialised, leaving out its child schemas."""
    chars = 0
    for key, value in node.items():
        if key == "properties":
            chars += sum(len(name) + 4 for name in value)
        elif key not in ("items", "anyOf"):
            chars += len(key) + json_chars(value)
    return chars


def json_chars(value) -> int:
    """Roughly how many characters ``value`` takes as JSON; a loop, since values may nest arbitrarily deep."""
    chars, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            chars += len(item) + 2
        elif isinstance(item, dict):
            chars += 2 + sum(len(str(key)) + 4 for key in item)
            pending.extend(item.values())
        elif isinstance(item, list):
            chars += 2 + len(item)
            pending.extend(item)
        else:
            chars += 5
    return chars
