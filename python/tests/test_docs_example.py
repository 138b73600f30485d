"""docs/python_example.md as a notebook: its python blocks run in order in one namespace."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_python_example_runs():
    text = open(os.path.join(ROOT, "docs", "python_example.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    ns = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/python_example.md block {i + 1}", "exec"), ns)
