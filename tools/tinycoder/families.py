"""The task families of the tiny-coder corpus: HumanEval-style problems built from templates.

A family is one function shape (an accumulator loop, a filter, a search, a string rebuild, …)
with one slot (a predicate, a transform, a character class, a comparison) and four docstring
phrasings. ``Family.problem`` fills the slot and a phrasing into a ``Problem``: the prompt, the
canonical body, and test cases whose expected values come from an independent reference
function (not from running the body), so the body can be checked against them.
Does not cover which slots or phrasings are held out, nor documents (see ``corpus``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

N_TESTS = 7
N_EXAMPLES = 1


def fill(template: str, **values: object) -> str:
    """Replace ``{name}`` placeholders literally (bodies and slots hold other braces)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


@dataclass(frozen=True)
class Slot:
    """One filler of a family's slot, with its constant already chosen."""

    kind: str
    code: str  # source over the family's loop variable; may use {arg}
    words: str  # how a docstring says it
    slug: str  # the part of the function name
    fn: Callable  # what the code computes, for the reference


@dataclass(frozen=True)
class SlotKind:
    """A slot filler up to its constant k; the unit that is held out ("greater" covers every k)."""

    kind: str
    code: str
    words: str
    slug: str
    fn: Callable  # (*values, k) -> result
    ks: tuple[int, ...] = (0,)

    def with_k(self, k: int) -> Slot:
        return Slot(
            self.kind, fill(self.code, k=k), fill(self.words, k=k), fill(self.slug, k=k), lambda *v: self.fn(*v, k)
        )


@dataclass(frozen=True)
class Problem:
    family: str
    kind: str
    phrasing: int
    entry_point: str
    prompt: str
    body: str
    tests: tuple[tuple[str, str], ...]  # (argument source, expected value source)


@dataclass(frozen=True)
class Family:
    name: str
    kinds: tuple[SlotKind, ...]
    names: tuple[str, ...]  # function-name templates over {slug}
    phrasings: tuple[str, ...]  # docstring templates over {arg} and {words}
    signature: str  # over {arg}
    args: tuple[str, ...]  # argument names to choose from
    body: str  # over {slot} and {arg}
    ref: Callable  # (slot.fn, input) -> expected output
    inputs: Callable  # (rng, slot) -> test inputs

    def kind(self, name: str) -> SlotKind:
        return next(k for k in self.kinds if k.kind == name)

    def problem(self, rng: random.Random, kind: SlotKind, phrasing: int) -> Problem:
        slot = kind.with_k(rng.choice(kind.ks))
        arg = rng.choice(self.args)
        name = fill(rng.choice(self.names), slug=slot.slug)
        body = fill(self.body, slot=slot.code, arg=arg)
        cases = []
        for value in self.inputs(rng, slot):
            case = (repr(value), repr(self.ref(slot.fn, value)))
            if case not in cases:
                cases.append(case)
        examples = [c for c in cases if c[0] not in ("[]", "''")][:N_EXAMPLES]
        doc = fill(self.phrasings[phrasing], arg=arg, words=slot.words)
        shown = "".join(f"    >>> {name}({a})\n    {e}\n" for a, e in examples)
        prompt = f'def {name}{fill(self.signature, arg=arg)}:\n    """{doc}\n{shown}    """\n'
        return Problem(self.name, kind.kind, phrasing, name, prompt, body, tuple(cases))


# Test inputs. Filtered generators add a case where every element matches and one where none does.

INT_POOL = range(-9, 16)
CHARS = "abcdeiouxyzAEIBCXZ0123456789 "
WORDS = ("apple", "Bob", "cats", "dog", "egg", "Ice", "is", "orange", "runs", "Sun", "tree", "up", "umbrella",
         "Yes", "a", "pens", "Ann", "sky")


def _matching(rng, pool, fn, want):
    pool = [v for v in pool if bool(fn(v)) == want] or list(pool)
    return [rng.choice(pool) for _ in range(rng.randint(1, 4))]


def int_lists(rng, slot, filtered=True):
    n_random = N_TESTS - (3 if filtered else 1)
    cases = [[rng.choice(INT_POOL) for _ in range(rng.randint(2, 7))] for _ in range(n_random)]
    if filtered:
        cases += [_matching(rng, INT_POOL, slot.fn, True), _matching(rng, INT_POOL, slot.fn, False)]
    return cases + [[]]


def plain_int_lists(rng, slot):
    return int_lists(rng, slot, filtered=False)


def walks(rng, slot):
    """Non-empty lists with repeats and small steps, so every neighbour relation occurs."""
    cases = []
    for _ in range(N_TESTS):
        value = rng.randint(-3, 5)
        case = [value]
        for _ in range(rng.randint(0, 7)):
            value += rng.choice((-2, -1, 0, 0, 1, 1, 2, 3))
            case.append(value)
        cases.append(case)
    return cases


def texts(rng, slot):
    cases = ["".join(rng.choice(CHARS) for _ in range(rng.randint(3, 12))) for _ in range(N_TESTS - 3)]
    cases += ["".join(_matching(rng, CHARS, slot.fn, True)), "".join(_matching(rng, CHARS, slot.fn, False))]
    return cases + [""]


def sentences(rng, slot):
    cases = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(N_TESTS - 3)]
    cases += [" ".join(_matching(rng, WORDS, slot.fn, True)), " ".join(_matching(rng, WORDS, slot.fn, False))]
    return cases + [""]


# Slots.

INT_PREDICATES = (
    SlotKind("even", "x % 2 == 0", "even", "even", lambda x, k: x % 2 == 0),
    SlotKind("odd", "x % 2 == 1", "odd", "odd", lambda x, k: x % 2 == 1),
    SlotKind("positive", "x > 0", "positive", "positive", lambda x, k: x > 0),
    SlotKind("negative", "x < 0", "negative", "negative", lambda x, k: x < 0),
    SlotKind("greater", "x > {k}", "greater than {k}", "above_{k}", lambda x, k: x > k, tuple(range(1, 9))),
    SlotKind("less", "x < {k}", "less than {k}", "below_{k}", lambda x, k: x < k, tuple(range(1, 9))),
    SlotKind("atleast", "x >= {k}", "at least {k}", "at_least_{k}", lambda x, k: x >= k, tuple(range(1, 9))),
    SlotKind("atmost", "x <= {k}", "at most {k}", "at_most_{k}", lambda x, k: x <= k, tuple(range(1, 9))),
    SlotKind("divisible", "x % {k} == 0", "divisible by {k}", "multiples_of_{k}", lambda x, k: x % k == 0,
             (3, 4, 5, 6)),
    SlotKind("indivisible", "x % {k} != 0", "not divisible by {k}", "non_multiples_of_{k}",
             lambda x, k: x % k != 0, (3, 4, 5, 6)),
)

TRANSFORMS = (
    SlotKind("double", "x * 2", "doubled", "doubled", lambda x, k: x * 2),
    SlotKind("triple", "x * 3", "tripled", "tripled", lambda x, k: x * 3),
    SlotKind("square", "x * x", "squared", "squared", lambda x, k: x * x),
    SlotKind("plus", "x + {k}", "increased by {k}", "plus_{k}", lambda x, k: x + k, tuple(range(1, 10))),
    SlotKind("minus", "x - {k}", "decreased by {k}", "minus_{k}", lambda x, k: x - k, tuple(range(1, 10))),
    SlotKind("negate", "-x", "negated", "negated", lambda x, k: -x),
    SlotKind("absolute", "abs(x)", "replaced by its absolute value", "absolute", lambda x, k: abs(x)),
    SlotKind("halve", "x // 2", "halved (rounded down)", "halved", lambda x, k: x // 2),
    SlotKind("modulo", "x % {k}", "taken modulo {k}", "mod_{k}", lambda x, k: x % k, (3, 4, 5, 7, 10)),
    SlotKind("times", "x * {k}", "multiplied by {k}", "times_{k}", lambda x, k: x * k, (4, 5, 6, 10)),
)

CHAR_CLASSES = (
    SlotKind("vowels", 'c.lower() in "aeiou"', "vowels", "vowels", lambda c, k: c.lower() in "aeiou"),
    SlotKind("digits", "c.isdigit()", "digits", "digits", lambda c, k: c.isdigit()),
    SlotKind("uppercase", "c.isupper()", "uppercase letters", "uppercase", lambda c, k: c.isupper()),
    SlotKind("lowercase", "c.islower()", "lowercase letters", "lowercase", lambda c, k: c.islower()),
    SlotKind("spaces", 'c == " "', "spaces", "spaces", lambda c, k: c == " "),
    SlotKind("letters", "c.isalpha()", "letters", "letters", lambda c, k: c.isalpha()),
)

EXTREMES = (
    SlotKind("max_first", "{arg}[i] > {arg}[best]", "first occurrence of the largest number", "max_first",
             lambda xs, k: xs.index(max(xs))),
    SlotKind("max_last", "{arg}[i] >= {arg}[best]", "last occurrence of the largest number", "max_last",
             lambda xs, k: len(xs) - 1 - xs[::-1].index(max(xs))),
    SlotKind("min_first", "{arg}[i] < {arg}[best]", "first occurrence of the smallest number", "min_first",
             lambda xs, k: xs.index(min(xs))),
    SlotKind("min_last", "{arg}[i] <= {arg}[best]", "last occurrence of the smallest number", "min_last",
             lambda xs, k: len(xs) - 1 - xs[::-1].index(min(xs))),
)

NEIGHBOURS = (
    SlotKind("rises", "{arg}[i + 1] > {arg}[i]", "greater than", "rises", lambda a, b, k: b > a),
    SlotKind("falls", "{arg}[i + 1] < {arg}[i]", "smaller than", "falls", lambda a, b, k: b < a),
    SlotKind("repeats", "{arg}[i + 1] == {arg}[i]", "equal to", "repeats", lambda a, b, k: b == a),
    SlotKind("changes", "{arg}[i + 1] != {arg}[i]", "different from", "changes", lambda a, b, k: b != a),
    SlotKind("steps", "{arg}[i + 1] == {arg}[i] + {k}", "exactly {k} more than", "steps_of_{k}",
             lambda a, b, k: b == a + k, (1, 2, 3)),
)

WORD_PREDICATES = (
    SlotKind("longer", "len(word) > {k}", "longer than {k} letters", "longer_than_{k}",
             lambda w, k: len(w) > k, (2, 3, 4, 5)),
    SlotKind("shorter", "len(word) < {k}", "shorter than {k} letters", "shorter_than_{k}",
             lambda w, k: len(w) < k, (3, 4, 5)),
    SlotKind("capital", "word[0].isupper()", "starting with a capital letter", "capitalized",
             lambda w, k: w[0].isupper()),
    SlotKind("vowel_initial", 'word[0] in "aeiou"', "starting with a lowercase vowel", "vowel_initial",
             lambda w, k: w[0] in "aeiou"),
    SlotKind("plural", 'word.endswith("s")', "ending in s", "ending_in_s", lambda w, k: w.endswith("s")),
    SlotKind("even_length", "len(word) % 2 == 0", "with an even number of letters", "even_length",
             lambda w, k: len(w) % 2 == 0),
)

# Families.

INTS = ("numbers",)
TEXTS = ("text",)
SENTENCES = ("sentence",)


def _int_family(name, names, phrasings, returns, body, ref):
    return Family(name, INT_PREDICATES, names, phrasings, f"({{arg}}: list[int]) -> {returns}", INTS, body, ref,
                  int_lists)


def _char_family(name, names, phrasings, returns, body, ref):
    return Family(name, CHAR_CLASSES, names, phrasings, f"({{arg}}: str) -> {returns}", TEXTS, body, ref, texts)


def _word_family(name, names, phrasings, returns, body, ref):
    return Family(name, WORD_PREDICATES, names, phrasings, f"({{arg}}: str) -> {returns}", SENTENCES, body, ref,
                  sentences)


def _accumulate(start, update, result):
    return f"    {result} = {start}\n    for x in {{arg}}:\n        if {{slot}}:\n            {update}\n    return {result}\n"


FAMILIES: tuple[Family, ...] = (
    _int_family(
        "sum_if", ("sum_{slug}", "total_of_{slug}", "add_{slug}"),
        ("Return the sum of the numbers in {arg} that are {words}.",
         "Add up the elements of {arg} that are {words} and return the total.",
         "Given a list of integers, return the total of the values that are {words}.",
         "Only values that are {words} count: return their sum over {arg}."),
        "int", _accumulate("0", "total += x", "total"), lambda p, xs: sum(x for x in xs if p(x))),
    _int_family(
        "count_if", ("count_{slug}", "how_many_{slug}", "num_{slug}"),
        ("Return how many numbers in {arg} are {words}.",
         "Count the elements of {arg} that are {words}.",
         "Given a list of integers, return the number of values that are {words}.",
         "Tell how often a value that is {words} occurs in {arg}."),
        "int", _accumulate("0", "count += 1", "count"), lambda p, xs: sum(1 for x in xs if p(x))),
    _int_family(
        "filter_if", ("filter_{slug}", "keep_{slug}", "select_{slug}"),
        ("Return a list of the numbers in {arg} that are {words}, in order.",
         "Keep only the elements of {arg} that are {words}.",
         "Given a list of integers, return the values that are {words}, keeping their order.",
         "Build a new list holding each entry of {arg} which is {words}."),
        "list[int]", _accumulate("[]", "result.append(x)", "result"), lambda p, xs: [x for x in xs if p(x)]),
    _int_family(
        "remove_if", ("remove_{slug}", "drop_{slug}", "without_{slug}"),
        ("Return {arg} without the numbers that are {words}.",
         "Remove every element that is {words} from {arg} and return what is left.",
         "Given a list of integers, drop the values that are {words} and keep the rest in order.",
         "Filter out of {arg} each entry which is {words}; return the remaining ones."),
        "list[int]",
        "    result = []\n    for x in {arg}:\n        if not {slot}:\n            result.append(x)\n    return result\n",
        lambda p, xs: [x for x in xs if not p(x)]),
    _int_family(
        "max_if", ("max_{slug}", "largest_{slug}", "biggest_{slug}"),
        ("Return the largest number in {arg} that is {words}, or None if there is none.",
         "Find the maximum of the elements of {arg} that are {words}. Return None when no element is {words}.",
         "Given a list of integers, return the biggest value that is {words} (None if there is no such value).",
         "Among the entries of {arg} which are {words}, pick the greatest; give None for no match."),
        "int | None",
        "    best = None\n    for x in {arg}:\n        if {slot}:\n            if best is None or x > best:\n"
        "                best = x\n    return best\n",
        lambda p, xs: max((x for x in xs if p(x)), default=None)),
    _int_family(
        "min_if", ("min_{slug}", "smallest_{slug}", "least_{slug}"),
        ("Return the smallest number in {arg} that is {words}, or None if there is none.",
         "Find the minimum of the elements of {arg} that are {words}. Return None when no element is {words}.",
         "Given a list of integers, return the lowest value that is {words} (None if there is no such value).",
         "Among the entries of {arg} which are {words}, pick the least; give None for no match."),
        "int | None",
        "    best = None\n    for x in {arg}:\n        if {slot}:\n            if best is None or x < best:\n"
        "                best = x\n    return best\n",
        lambda p, xs: min((x for x in xs if p(x)), default=None)),
    _int_family(
        "first_index_if", ("first_{slug}_index", "index_of_first_{slug}", "find_first_{slug}"),
        ("Return the index of the first number in {arg} that is {words}, or -1 if there is none.",
         "Find the position of the first element of {arg} that is {words}. Return -1 if no element is {words}.",
         "Given a list of integers, return where the first value that is {words} appears (-1 when absent).",
         "Scan {arg} from the left and report the index of the earliest entry which is {words}; -1 for no match."),
        "int",
        "    for i, x in enumerate({arg}):\n        if {slot}:\n            return i\n    return -1\n",
        lambda p, xs: next((i for i, x in enumerate(xs) if p(x)), -1)),
    _int_family(
        "last_index_if", ("last_{slug}_index", "index_of_last_{slug}", "find_last_{slug}"),
        ("Return the index of the last number in {arg} that is {words}, or -1 if there is none.",
         "Find the position of the last element of {arg} that is {words}. Return -1 if no element is {words}.",
         "Given a list of integers, return where the last value that is {words} appears (-1 when absent).",
         "Scan {arg} and report the index of the final entry which is {words}; -1 for no match."),
        "int",
        "    index = -1\n    for i, x in enumerate({arg}):\n        if {slot}:\n            index = i\n    return index\n",
        lambda p, xs: max((i for i, x in enumerate(xs) if p(x)), default=-1)),
    _int_family(
        "all_if", ("all_{slug}", "only_{slug}", "every_{slug}"),
        ("Return True if every number in {arg} is {words}, otherwise False.",
         "Check whether all elements of {arg} are {words}.",
         "Given a list of integers, return True when each value is {words} (True for an empty list).",
         "Decide if {arg} holds no entry that fails to be {words}."),
        "bool",
        "    for x in {arg}:\n        if not {slot}:\n            return False\n    return True\n",
        lambda p, xs: all(p(x) for x in xs)),
    _int_family(
        "any_if", ("any_{slug}", "has_{slug}", "contains_{slug}"),
        ("Return True if some number in {arg} is {words}, otherwise False.",
         "Check whether at least one element of {arg} is {words}.",
         "Given a list of integers, return True when any value is {words}.",
         "Decide if {arg} holds an entry which is {words}."),
        "bool",
        "    for x in {arg}:\n        if {slot}:\n            return True\n    return False\n",
        lambda p, xs: any(p(x) for x in xs)),
    _int_family(
        "product_if", ("product_{slug}", "multiply_{slug}", "prod_of_{slug}"),
        ("Return the product of the numbers in {arg} that are {words} (1 if there are none).",
         "Multiply together the elements of {arg} that are {words} and return the result.",
         "Given a list of integers, return the product of the values that are {words}; an empty product is 1.",
         "Only values that are {words} count: return what you get multiplying them over {arg}."),
        "int", _accumulate("1", "product *= x", "product"), lambda p, xs: math.prod(x for x in xs if p(x))),
    Family(
        "map_list", TRANSFORMS, ("{slug}_list", "map_{slug}", "each_{slug}"),
        ("Return a new list with every number in {arg} {words}.",
         "Return the elements of {arg}, each one {words}.",
         "Given a list of integers, return the list where each value is {words}.",
         "Produce, in order, the entries of {arg} after each has been {words}."),
        "({arg}: list[int]) -> list[int]", INTS,
        "    result = []\n    for x in {arg}:\n        result.append({slot})\n    return result\n",
        lambda f, xs: [f(x) for x in xs], plain_int_lists),
    Family(
        "sum_map", TRANSFORMS, ("sum_{slug}", "total_{slug}", "{slug}_total"),
        ("Return the sum of the numbers in {arg}, each {words} first.",
         "Add up the elements of {arg} after each one is {words}.",
         "Given a list of integers, return the total of the values once each is {words}.",
         "Work out the total you get when every entry of {arg} has been {words}."),
        "({arg}: list[int]) -> int", INTS,
        "    total = 0\n    for x in {arg}:\n        total += {slot}\n    return total\n",
        lambda f, xs: sum(f(x) for x in xs), plain_int_lists),
    _char_family(
        "count_chars", ("count_{slug}", "num_{slug}", "how_many_{slug}"),
        ("Return how many {words} the string {arg} contains.",
         "Count the {words} in {arg}.",
         "Given a string, return the number of characters that are {words}.",
         "Tell how often one of the {words} occurs in {arg}."),
        "int", "    count = 0\n    for c in {arg}:\n        if {slot}:\n            count += 1\n    return count\n",
        lambda p, s: sum(1 for c in s if p(c))),
    _char_family(
        "remove_chars", ("remove_{slug}", "strip_{slug}", "without_{slug}"),
        ("Return {arg} with all {words} removed.",
         "Delete every one of the {words} from the string {arg}.",
         "Given a string, return it without the characters that are {words}.",
         "Produce a copy of {arg} that leaves out its {words}."),
        "str", '    result = ""\n    for c in {arg}:\n        if not {slot}:\n            result += c\n    return result\n',
        lambda p, s: "".join(c for c in s if not p(c))),
    _char_family(
        "keep_chars", ("keep_{slug}", "only_{slug}", "extract_{slug}"),
        ("Return only the {words} of {arg}, in order, as a string.",
         "Keep the {words} in the string {arg} and drop everything else.",
         "Given a string, return the characters that are {words}, joined together.",
         "Produce a string made of just the {words} found in {arg}."),
        "str", '    result = ""\n    for c in {arg}:\n        if {slot}:\n            result += c\n    return result\n',
        lambda p, s: "".join(c for c in s if p(c))),
    _char_family(
        "mask_chars", ("mask_{slug}", "hide_{slug}", "star_{slug}"),
        ("Return {arg} with every one of the {words} replaced by '*'.",
         "Replace the {words} in the string {arg} with stars.",
         "Given a string, change each character that is one of the {words} into '*'.",
         "Produce a copy of {arg} in which the {words} are hidden behind '*'."),
        "str",
        '    result = ""\n    for c in {arg}:\n        if {slot}:\n            result += "*"\n        else:\n'
        "            result += c\n    return result\n",
        lambda p, s: "".join("*" if p(c) else c for c in s)),
    _char_family(
        "first_char_index", ("first_of_{slug}", "index_first_{slug}", "position_of_{slug}"),
        ("Return the index of the first of the {words} in {arg}, or -1 if there is none.",
         "Find the position of the first character of {arg} that is one of the {words}. Return -1 if there is none.",
         "Given a string, return where the first of its {words} appears (-1 when absent).",
         "Scan {arg} from the left and report the index of the earliest of the {words}; -1 for no match."),
        "int", "    for i, c in enumerate({arg}):\n        if {slot}:\n            return i\n    return -1\n",
        lambda p, s: next((i for i, c in enumerate(s) if p(c)), -1)),
    Family(
        "extreme_index", EXTREMES, ("index_of_{slug}", "arg_{slug}", "position_{slug}"),
        ("Return the index of the {words} in the non-empty list {arg}.",
         "Find the position of the {words} in {arg}, which is never empty.",
         "Given a non-empty list of integers, return the index of the {words}.",
         "Scan {arg} (never empty) and report where the {words} sits."),
        "({arg}: list[int]) -> int", INTS,
        "    best = 0\n    for i in range(1, len({arg})):\n        if {slot}:\n            best = i\n    return best\n",
        lambda f, xs: f(xs), walks),
    Family(
        "count_pairs", NEIGHBOURS, ("count_{slug}", "number_of_{slug}", "tally_{slug}"),
        ("Return how many times a number in {arg} is followed by one that is {words} it.",
         "Count the neighbouring pairs in {arg} where the second element is {words} the first.",
         "Given a list of integers, return the number of adjacent positions where the next value is {words} "
         "the current one.",
         "Tell how often, walking through {arg}, the next entry is {words} the one before it."),
        "({arg}: list[int]) -> int", INTS,
        "    count = 0\n    for i in range(len({arg}) - 1):\n        if {slot}:\n            count += 1\n    return count\n",
        lambda p, xs: sum(1 for a, b in zip(xs, xs[1:]) if p(a, b)), walks),
    _word_family(
        "count_words", ("count_words_{slug}", "words_{slug}_count", "num_words_{slug}"),
        ("Return how many words {words} the sentence {arg} contains.",
         "Count the words {words} in {arg}; words are separated by spaces.",
         "Given a sentence, return the number of its words {words}.",
         "Split {arg} on spaces and tell how many of the pieces are words {words}."),
        "int",
        "    count = 0\n    for word in {arg}.split():\n        if {slot}:\n            count += 1\n    return count\n",
        lambda p, s: sum(1 for w in s.split() if p(w))),
    _word_family(
        "filter_words", ("words_{slug}", "select_words_{slug}", "filter_words_{slug}"),
        ("Return the list of words {words} in the sentence {arg}, in order.",
         "Split {arg} into words and keep the words {words}.",
         "Given a sentence, return its words {words} as a list.",
         "Collect, left to right, the words {words} that appear in {arg}."),
        "list[str]",
        "    result = []\n    for word in {arg}.split():\n        if {slot}:\n            result.append(word)\n"
        "    return result\n",
        lambda p, s: [w for w in s.split() if p(w)]),
)
