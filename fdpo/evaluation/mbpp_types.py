"""Restores the Python types that MBPP+ test inputs lose in the JSON release file.

MBPP+ stores tuples, sets and complex numbers as JSON lists and strings; EvalPlus
turns them back per task before calling anything (``mbpp_deserialize_inputs``).
This module applies the same per-task rule so that the canonical solution and
the candidates see the inputs EvalPlus gives them. Does not cover HumanEval+,
whose inputs are plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Args = list[Any]


def _deep_tuple(value: Any) -> Any:
    return tuple(_deep_tuple(v) for v in value) if isinstance(value, list) else value


def _each_arg_tuple(args: Args) -> Args:
    return [tuple(a) for a in args]


def _each_arg_list_of_tuples(args: Args) -> Args:
    return [[tuple(x) for x in a] for a in args]


def _each_arg_tuple_of_tuples(args: Args) -> Args:
    return [tuple(tuple(x) for x in a) for a in args]


def _first_list_of_tuples(args: Args) -> Args:
    return [[tuple(x) for x in args[0]], args[1]]


def _first_tuple(args: Args) -> Args:
    return [tuple(args[0]), *args[1:]]


def _second_tuple(args: Args) -> Args:
    return [args[0], tuple(args[1])]


def _list_of_sets(args: Args) -> Args:
    # EvalPlus turns an empty list into {} (a dict), not set(); kept for identical inputs.
    return [[set(x) if isinstance(x, list) and x else {} for x in args[0]]]


def _float_complex(args: Args) -> Args:
    return [float(args[0]), complex(args[1])]


def _complex(args: Args) -> Args:
    return [complex(args[0])]


def _tuple_of_mixed(args: Args) -> Args:
    return [tuple(tuple(x) if isinstance(x, list) else x for x in args[0])]


def _dict_of_tuples(args: Args) -> Args:
    return [{k: tuple(v) for k, v in args[0].items()}, *args[1:]]


def _all_tuples(args: Args) -> Args:
    return list(_deep_tuple(args))


_RULES: dict[Callable[[Args], Args], tuple[int, ...]] = {
    _each_arg_tuple: (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616,
                      630, 726, 740, 744, 809),
    _each_arg_list_of_tuples: (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780),
    _first_list_of_tuples: (75, 413, 444, 753),
    _second_tuple: (106, 750),
    _list_of_sets: (115,),
    _float_complex: (124,),
    _first_tuple: (250, 307, 405, 446, 617, 720, 763, 808),
    _each_arg_tuple_of_tuples: (259, 401, 445),
    _tuple_of_mixed: (278,),
    _dict_of_tuples: (722,),
    _complex: (252,),
    _all_tuples: (580, 615, 791),
}
RULE_FOR_TASK = {number: rule for rule, numbers in _RULES.items() for number in numbers}


def restore_inputs(task_id: str, inputs: list[Args]) -> list[Args]:
    """``inputs`` of MBPP+ task ``task_id`` (``Mbpp/N``) with their Python types back."""
    rule = RULE_FOR_TASK.get(int(task_id.rsplit("/", 1)[-1]))
    return [rule(args) for args in inputs] if rule else inputs
