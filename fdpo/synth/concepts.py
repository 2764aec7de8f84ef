"""The programming concepts a Python function uses, read off its tree-sitter tree.

Covers, deterministically and without running anything: the library APIs it
references (resolved through the file's imports, ``np.array`` → ``numpy.array``),
the builtins and methods it calls, its control flow, data structures and
language features, the exceptions it raises or catches, and the import lines it
needs. Does not cover finding functions in files (see ``fdpo.synth.seeds``) nor
types or data flow: a name is what it is spelled, not what it holds at run time.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from tree_sitter import Node

CATEGORIES = ("apis", "builtins", "methods", "control_flow", "data_structures", "features", "exceptions", "imports")

EXCEPTION_NAMES = frozenset(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
)
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_")) - EXCEPTION_NAMES

CONTROL_FLOW = {
    "if_statement": "if",
    "for_statement": "for loop",
    "while_statement": "while loop",
    "with_statement": "with",
    "raise_statement": "raise",
    "assert_statement": "assert",
    "break_statement": "break",
    "continue_statement": "continue",
    "match_statement": "match",
    "yield": "generator",
    "await": "await",
    "except_clause": "try/except",
    "except_group_clause": "try/except",
    "finally_clause": "try/finally",
}

# Node types that build a container, and the container each builds (``tuple`` nodes are checked on their own).
CONTAINERS = {
    "list": "list",
    "list_comprehension": "list",
    "dictionary": "dict",
    "dictionary_comprehension": "dict",
    "set": "set",
    "set_comprehension": "set",
    "expression_list": "tuple",
}

FEATURES = {
    "list_comprehension": "list comprehension",
    "dictionary_comprehension": "dict comprehension",
    "set_comprehension": "set comprehension",
    "generator_expression": "generator expression",
    "lambda": "lambda",
    "conditional_expression": "conditional expression",
    "slice": "slicing",
    "pattern_list": "unpacking",
    "tuple_pattern": "unpacking",
    "list_splat": "unpacking",
    "dictionary_splat": "unpacking",
    "named_expression": "walrus",
    "decorator": "decorator",
    "global_statement": "global",
    "nonlocal_statement": "nonlocal",
    "interpolation": "f-string",
    "default_parameter": "default arguments",
    "typed_default_parameter": "default arguments",
    "list_splat_pattern": "*args",
    "dictionary_splat_pattern": "**kwargs",
    "type": "type hints",
}

CONSTRUCTORS = {"list", "dict", "set", "tuple", "frozenset", "bytearray", "bytes"}

# Library APIs that are data structures (an exact name, or a module and everything in it).
API_STRUCTURES = {
    "collections.deque": "deque",
    "collections.Counter": "Counter",
    "collections.defaultdict": "defaultdict",
    "collections.OrderedDict": "OrderedDict",
    "collections.ChainMap": "ChainMap",
    "collections.namedtuple": "namedtuple",
    "typing.NamedTuple": "namedtuple",
    "heapq": "heap",
    "bisect": "sorted list (bisect)",
    "array.array": "array",
    "queue": "queue",
    "dataclasses.dataclass": "dataclass",
    "enum": "enum",
}

_BY_TYPE: dict[str, list[tuple[str, str]]] = {}
for _category, _table in (("control_flow", CONTROL_FLOW), ("data_structures", CONTAINERS), ("features", FEATURES)):
    for _type, _concept in _table.items():
        _BY_TYPE.setdefault(_type, []).append((_category, _concept))

# Receivers whose methods belong to the code's own classes, not to a library.
OWN_RECEIVERS = {"self", "cls"}


@dataclass(frozen=True)
class Binding:
    """A name an import statement binds: ``np`` → ``numpy``, from ``import numpy as np``."""

    target: str
    statement: str

    @property
    def relative(self) -> bool:
        return self.target.startswith(".")


def text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace")


def import_bindings(statement: Node) -> dict[str, Binding]:
    """The names one ``import`` / ``from … import`` statement binds (wildcards bind none we can name)."""
    out: dict[str, Binding] = {}
    if statement.type == "import_statement":
        for name in statement.children_by_field_name("name"):
            if name.type == "aliased_import":
                full, alias = text(name.child_by_field_name("name")), text(name.child_by_field_name("alias"))
                out[alias] = Binding(full, f"import {full} as {alias}")
            else:
                full = text(name)
                out[full.split(".")[0]] = Binding(full.split(".")[0], f"import {full}")
    elif statement.type == "import_from_statement":
        module = text(statement.child_by_field_name("module_name"))
        if module == "__future__":
            return out
        for name in statement.children_by_field_name("name"):
            if name.type == "aliased_import":
                orig, alias = text(name.child_by_field_name("name")), text(name.child_by_field_name("alias"))
                out[alias] = Binding(_join(module, orig), f"from {module} import {orig} as {alias}")
            else:
                orig = text(name)
                out[orig] = Binding(_join(module, orig), f"from {module} import {orig}")
    return out


def _join(module: str, name: str) -> str:
    return module + name if module.endswith(".") else f"{module}.{name}"


def module_imports(root: Node) -> dict[str, Binding]:
    """Bindings of every import in a file outside function bodies (later imports win, as at run time)."""
    out: dict[str, Binding] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in ("import_statement", "import_from_statement"):
            out.update(import_bindings(node))
        elif node.type not in ("function_definition", "lambda"):
            stack.extend(reversed(node.named_children))
    return out


def descendants(node: Node) -> list[tuple[Node, str]]:
    """Every named node under ``node`` (itself included) with its type, in source order.

    Punctuation and keywords are left out: no concept is read off them, and they
    are half of all nodes.
    """
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append((n, n.type))
        stack.extend(reversed(n.named_children))
    return out


_NAMED_BY = ("keyword_argument", "default_parameter", "typed_default_parameter")


def _is_reference(node: Node) -> bool:
    """An identifier that reads a name (not an attribute's member, keyword or parameter name)."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "attribute" and parent.child_by_field_name("attribute") == node:
        return False
    if parent.type in _NAMED_BY and parent.child_by_field_name("name") == node:
        return False
    return parent.type not in ("parameters", "lambda_parameters", "typed_parameter", "list_splat_pattern",
                               "dictionary_splat_pattern", "dotted_name", "aliased_import", "function_definition",
                               "class_definition")


def _dotted_chain(node: Node) -> tuple[Node, str]:
    """Climb ``a`` → ``a.b.c`` while the parents are attributes of it; the top node and its dotted name."""
    top, parts = node, [text(node)]
    while top.parent is not None and top.parent.type == "attribute" and top.parent.child_by_field_name("object") == top:
        top = top.parent
        parts.append(text(top.child_by_field_name("attribute")))
    return top, ".".join(parts)


def _parameter_names(function: Node) -> set[str]:
    params = function.child_by_field_name("parameters")
    if params is None:
        return set()
    return {text(n) for n, t in descendants(params) if t == "identifier" and _is_parameter_name(n)}


def _is_parameter_name(node: Node) -> bool:
    parent = node.parent
    if parent.type in ("parameters", "list_splat_pattern", "dictionary_splat_pattern"):
        return True
    if parent.type == "typed_parameter":  # ``x: int`` has no name field: the name comes first
        return parent.children[0] == node
    return parent.type in _NAMED_BY[1:] and parent.child_by_field_name("name") == node


def function_concepts(node: Node, imports: dict[str, Binding]) -> dict[str, list[str]]:
    """The concepts of one function: ``node`` is its ``function_definition`` or ``decorated_definition``.

    ``imports`` are the file's module-level bindings; imports inside the function
    are added to them. Every category is a sorted list, empty when unused.
    """
    function = node.child_by_field_name("definition") if node.type == "decorated_definition" else node
    nodes = descendants(node)
    bound = dict(imports)
    for n, t in nodes:
        if t in ("import_statement", "import_from_statement"):
            bound.update(import_bindings(n))
    params = _parameter_names(function)
    found = {c: set() for c in CATEGORIES}
    for n, t in nodes:
        for category, concept in _BY_TYPE.get(t, ()):
            found[category].add(concept)
        if t == "identifier":
            if _is_reference(n):
                _reference(n, bound, params, found)
        elif t == "call":
            _call(n, bound, found)
        elif t in ("raise_statement", "except_clause"):
            _exceptions(n, found)
        elif t == "tuple" and not _catches(n):
            found["data_structures"].add("tuple")
        elif t == "parameters" and _keyword_only(n):
            found["features"].add("keyword-only arguments")
        elif t == "function_definition":
            if n.children[0].type == "async":
                found["features"].add("async")
            if n != function:
                found["features"].add("nested function")
        elif t == "class_definition":
            found["features"].add("nested class")
    _recursion(function, nodes, found)
    return {c: sorted(found[c]) for c in CATEGORIES}


def _catches(n: Node) -> bool:
    """The tuple of exception types in ``except (A, B):`` is syntax, not a data structure."""
    return n.parent is not None and n.parent.type in ("except_clause", "as_pattern")


def _keyword_only(parameters: Node) -> bool:
    """A parameter after a bare ``*`` or after ``*args`` (``**kwargs`` aside)."""
    after_star = False
    for p in parameters.named_children:
        if after_star and p.type != "dictionary_splat_pattern":
            return True
        after_star = after_star or p.type in ("keyword_separator", "list_splat_pattern")
    return False


def _reference(n: Node, bound: dict[str, Binding], params: set[str], found: dict[str, set[str]]) -> None:
    name = text(n)
    if name in bound and name not in params:
        binding = bound[name]
        found["imports"].add(binding.statement)
        if not binding.relative:
            _, dotted = _dotted_chain(n)
            api = binding.target + dotted[len(name):]
            found["apis"].add(api)
            for prefix, structure in API_STRUCTURES.items():
                if api == prefix or api.startswith(prefix + "."):
                    found["data_structures"].add(structure)
    elif name in BUILTIN_NAMES and name not in params and _called(n):
        found["builtins"].add(name)
        if name in CONSTRUCTORS:
            found["data_structures"].add(name)


def _called(n: Node) -> bool:
    return n.parent.type == "call" and n.parent.child_by_field_name("function") == n


def _call(n: Node, bound: dict[str, Binding], found: dict[str, set[str]]) -> None:
    """Method calls, except on imported modules (those are APIs) and the code's own ``self.method()``."""
    callee = n.child_by_field_name("function")
    if callee.type != "attribute":
        return
    receiver = callee.child_by_field_name("object")
    root = receiver
    while root.type == "attribute":
        root = root.child_by_field_name("object")
    if root.type == "identifier" and text(root) in bound:
        return
    if receiver.type == "identifier" and text(receiver) in OWN_RECEIVERS:
        return
    if root.type == "call" and text(root.child_by_field_name("function")) == "super":
        return
    found["methods"].add(text(callee.child_by_field_name("attribute")))


def _exceptions(n: Node, found: dict[str, set[str]]) -> None:
    target = n.child_by_field_name("value") if n.type == "except_clause" else (n.named_children or [None])[0]
    if target is None:
        return
    if target.type == "as_pattern":
        target = target.named_children[0]
    if target.type == "call":
        target = target.child_by_field_name("function")
    names = target.named_children if target.type == "tuple" else [target]
    for name in names:
        if name.type in ("identifier", "attribute"):
            found["exceptions"].add(text(name))


def _recursion(function: Node, nodes: list[tuple[Node, str]], found: dict[str, set[str]]) -> None:
    name = text(function.child_by_field_name("name"))
    own = {name, *(f"{r}.{name}" for r in OWN_RECEIVERS)}
    for n, t in nodes:
        if t == "call" and text(n.child_by_field_name("function")) in own:
            found["control_flow"].add("recursion")
            return


def describe(concepts: dict[str, list[str]]) -> str:
    """One line per non-empty category, for a model prompt."""
    lines = []
    for category in CATEGORIES:
        if concepts.get(category):
            lines.append(f"- {category.replace('_', ' ')}: {', '.join(concepts[category])}")
    return "\n".join(lines) or "- (none found)"
