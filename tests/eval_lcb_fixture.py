"""A tiny LiveCodeBench ``code_generation_lite`` export, in the real file's shape, for the eval tests."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path


def compress(cases: list[dict]) -> str:
    """How the real export stores private tests: base64(zlib(pickle(JSON text)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


def problems() -> list[dict]:
    two_sum_cases = [
        {"input": "[2,7,11,15]\n9", "output": "[0, 1]", "testtype": "functional"},
        {"input": "[3,2,4]\n6", "output": "[1, 2]", "testtype": "functional"},
    ]
    add_cases = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                 {"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}]
    mean_cases = [{"input": "3\n1 2 4\n", "output": "2.3333333333\n", "testtype": "stdin"},
                  {"input": "2\n5 5\n", "output": "5.0000000000\n", "testtype": "stdin"}]
    common = {"platform": "atcoder", "contest_id": "abc000"}
    return [
        {**common, "platform": "leetcode", "question_title": "Two Sum", "question_id": "lc-1",
         "question_content": "Return indices of the two numbers that add up to target.",
         "contest_date": "2024-01-05T00:00:00", "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
         "difficulty": "easy", "public_test_cases": json.dumps(two_sum_cases[:1]),
         "private_test_cases": compress(two_sum_cases[1:]), "metadata": json.dumps({"func_name": "twoSum"})},
        {**common, "question_title": "A+B", "question_id": "abc000_a",
         "question_content": "Read two integers and print their sum.", "contest_date": "2024-03-09T00:00:00",
         "starter_code": "", "difficulty": "medium", "public_test_cases": json.dumps(add_cases[:1]),
         "private_test_cases": json.dumps(add_cases[1:]), "metadata": "{}"},
        {**common, "question_title": "Mean", "question_id": "abc000_b",
         "question_content": "Print the mean of N integers with 10 decimals.", "contest_date": "2024-06-01T00:00:00",
         "starter_code": "", "difficulty": "hard", "public_test_cases": json.dumps(mean_cases[:1]),
         "private_test_cases": compress(mean_cases[1:]), "metadata": "{}"},
    ]


def write_export(folder: Path) -> Path:
    path = folder / "test.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in problems()))
    return path


RIGHT = {
    "lc-1": "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
            "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
            "                return (seen[target - x], i)\n            seen[x] = i\n",
    "abc000_a": "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\n",  # exit ends the program
    "abc000_b": "import sys\ndef main():\n    data = open(0).read().split()\n    n = int(data[0])\n"
                "    print(f'{sum(map(int, data[1:n + 1])) / n:.10f}')\n\nif __name__ == '__main__':\n    main()\n",
}
WRONG = {
    "lc-1": "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n",
    "abc000_a": "a, b = map(int, sys.stdin.readline().split())\nprint(a - b)\n",
    "abc000_b": "print(2.3333333333)\n",
}
