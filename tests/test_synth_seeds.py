"""Seeds and their concepts: exact concepts of known snippets, and a run over a real stdlib package."""

from __future__ import annotations

import json
import sysconfig
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from fdpo.synth.concepts import CATEGORIES, function_concepts, module_imports
from fdpo.synth.parsing import parse
from fdpo.synth.seeds import SeedRules, definitions, file_seeds, find_files, iter_seeds

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def concepts_of(source: str, name: str) -> dict[str, list[str]]:
    root = parse(textwrap.dedent(source)).root_node
    nodes = {qual: node for node, qual in definitions(root)}
    found = function_concepts(nodes[name], module_imports(root))
    return {k: v for k, v in found.items() if v}


def test_apis_resolve_through_every_import_form():
    src = """
    import os.path
    import numpy as np
    from collections import Counter, deque as dq
    from os.path import join as pjoin
    from . import sibling

    def f(paths, limit=3):
        counts = Counter(os.path.basename(p) for p in paths)
        queue = dq(maxlen=limit)
        queue.append(np.array([1, 2]))
        return pjoin(sibling.ROOT, os.sep), counts.most_common(limit)
    """
    assert concepts_of(src, "f") == {
        "apis": ["collections.Counter", "collections.deque", "numpy.array", "os.path.basename", "os.path.join", "os.sep"],
        "methods": ["append", "most_common"],
        "data_structures": ["Counter", "deque", "list", "tuple"],
        "features": ["default arguments", "generator expression"],
        "imports": [
            "from . import sibling",
            "from collections import Counter",
            "from collections import deque as dq",
            "from os.path import join as pjoin",
            "import numpy as np",
            "import os.path",
        ],
    }


def test_control_flow_data_structures_and_features():
    src = """
    import heapq

    def walk(tree: dict, *args, key=None, **kw) -> list:
        \"\"\"Walk it.\"\"\"
        seen = {n for n in tree}
        out = []
        while tree:
            try:
                node = heapq.heappop(tree[key])
            except (KeyError, IndexError) as e:
                raise ValueError(f"no {key}") from e
            finally:
                pass
            if node in seen:
                continue
            for a, b in sorted(tree.items()):
                out += [x for x in walk(b)][1:]
                if (n := len(a)) > 3:
                    break
        return out if out else None
    """
    assert concepts_of(src, "walk") == {
        "apis": ["heapq.heappop"],
        "builtins": ["len", "sorted"],
        "methods": ["items"],
        "control_flow": ["break", "continue", "for loop", "if", "raise", "recursion", "try/except", "try/finally",
                         "while loop"],
        "data_structures": ["heap", "list", "set"],
        "features": ["**kwargs", "*args", "conditional expression", "default arguments", "f-string",
                     "keyword-only arguments", "list comprehension", "set comprehension", "slicing", "type hints",
                     "unpacking", "walrus"],
        "exceptions": ["IndexError", "KeyError", "ValueError"],
        "imports": ["import heapq"],
    }


def test_methods_generators_and_shadowing():
    src = """
    import re
    class Tokens:
        @staticmethod
        def split(text, re=None):
            def inner():
                pass
            for m in self.pattern.finditer(text):
                yield m.group(0)
            self.count(text)
            super().split(text)
            list(re)
    """
    found = concepts_of(src, "Tokens.split")
    # The parameter ``re`` shadows the module; ``self.count()`` and ``super().split()`` are the class's own.
    assert found == {
        "builtins": ["list", "super"],
        "methods": ["finditer", "group"],
        "control_flow": ["for loop", "generator"],
        "data_structures": ["list"],
        "features": ["decorator", "default arguments", "nested function"],
    }


def test_every_category_is_always_present_and_sorted():
    root = parse("def f(x):\n    return x\n").root_node
    node, _ = next(definitions(root))
    found = function_concepts(node, {})
    assert list(found) == list(CATEGORIES)
    assert all(v == [] for v in found.values())


def test_seed_selection_rules(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent('''
        def short(x):
            return x

        def stub(x):
            """Only a docstring, long enough to pass the line count.

            More text.
            """
            raise NotImplementedError

        if True:
            def guarded(a, b):
                total = 0
                for x in a:
                    total += x
                return total + b

        class Box:
            @property
            def size(self):
                """How big."""
                n = 0
                for item in self.items:
                    n += item.size
                return n

            def _long(self):
        ''') + "        x = 1\n" * 40)
    seeds, counts = file_seeds(str(path), SeedRules(min_lines=5, max_lines=30))
    assert [(s["name"], s["source"]["line"]) for s in seeds] == [("guarded", 13), ("Box.size", 20)]
    assert counts == Counter({"functions": 5, "too short": 1, "stubs": 1, "too long": 1})
    size = seeds[1]
    assert size["code"].startswith("@property\ndef size(self):\n")  # dedented, decorator kept
    assert size["id"] == "seed/" + size["source"]["seed_hash"][:12]
    assert size["source"]["file"] == str(path)


@pytest.fixture(scope="module")
def json_files() -> list[str]:
    return find_files([str(STDLIB / "json")])


def test_a_real_stdlib_package(json_files):
    assert [Path(f).name for f in json_files] == ["__init__.py", "decoder.py", "encoder.py", "scanner.py", "tool.py"]
    counts: Counter = Counter()
    seeds = [s for _, batch in iter_seeds(json_files, SeedRules(), counts=counts) for s in batch]
    assert counts["files"] == 5 and len(seeds) >= 10
    by_name = {s["name"]: s for s in seeds}
    main = by_name["main"]["concepts"]
    assert {"argparse.ArgumentParser", "json.load", "sys.stdout"} <= set(main["apis"])
    assert "import argparse" in main["imports"]
    detect = by_name["detect_encoding"]["concepts"]
    assert "codecs.BOM_UTF8" in detect["apis"] and "import codecs" in detect["imports"]
    for s in seeds:
        lines = s["code"].splitlines()
        assert 5 <= len(lines) <= 80
        source_lines = Path(s["source"]["file"]).read_text().splitlines()
        assert source_lines[s["source"]["line"] - 1].strip() == lines[0].strip()
        json.dumps(s)


def test_order_is_fixed_by_seed_and_independent_of_jobs(json_files):
    def run(seed, jobs):
        return [s["id"] for _, batch in iter_seeds(json_files, SeedRules(), seed=seed, jobs=jobs, counts=Counter())
                for s in batch]

    first = run(1, 1)
    assert run(1, 2) == first
    assert run(2, 1) != first and sorted(run(2, 1)) == sorted(first)


def test_duplicates_and_per_file_cap(tmp_path):
    body = "def f(a):\n    x = a\n    y = x\n    z = y\n    return z\n\ndef g(b):\n    x = b\n    y = x\n    z = y\n    return z\n"
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(body)
    counts: Counter = Counter()
    files = find_files([str(tmp_path)])
    seeds = [s for _, batch in iter_seeds(files, SeedRules(), per_file=1, counts=counts) for s in batch]
    assert len(seeds) == 2 and counts["duplicate seeds"] + counts["over --per-file"] == 2


def test_excluded_names_and_missing_paths(tmp_path):
    from fdpo.errors import FdpoError

    for rel in ("pkg/mod.py", "pkg/tests/test_mod.py", "pkg/test_x.py", ".hidden/h.py", "pkg/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    assert find_files([str(tmp_path)]) == [str(tmp_path / "pkg" / "mod.py")]
    assert len(find_files([str(tmp_path)], exclude=())) == 4
    with pytest.raises(FdpoError, match="no such file"):
        find_files([str(tmp_path / "nope")])


def test_near_duplicate_seeds_are_dropped_across_files(tmp_path):
    from fdpo.synth.dedup import NearDuplicateIndex
    from fdpo.synth.pipeline import seed_stream

    template = '''def getregentry():
    """The codec registry entry."""
    return codecs.CodecInfo(
        name={name!r},
        encode=Codec().encode,
        decode=Codec().decode,
        incrementalencoder=IncrementalEncoder,
        incrementaldecoder=IncrementalDecoder,
    )
'''
    for name in ("cp1250", "cp1251", "latin_1"):
        (tmp_path / f"{name}.py").write_text("import codecs\n\n" + template.format(name=name))
    (tmp_path / "other.py").write_text(CODE_UNLIKE_THE_REST)
    files = find_files([str(tmp_path)])
    counts: Counter = Counter()
    kept = list(seed_stream(files, SeedRules(), counts, dedup=NearDuplicateIndex(0.7)))
    assert sorted(s["name"] for s in kept) == ["getregentry", "median"]
    assert counts["near-duplicate seeds"] == 2 and counts["seeds"] == 2
    assert len(list(seed_stream(files, SeedRules(), Counter()))) == 4


CODE_UNLIKE_THE_REST = '''def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
'''
