"""Extracts (input, expected) pairs from talon's tests/text_quotations_test.py by running its
test functions against a recording stand-in for `quotations.extract_from_plain`; tests that
patch talon's internals, or whose assertion is not `eq_(expected, extract_from_plain(body))`,
are left out. Usage: python3 extract.py <talon checkout> <out dir>"""
import json, os, sys, types
from unittest import mock

src_root, out = sys.argv[1], sys.argv[2]

class Marker:
    def __init__(self, body): self.body = body

cases, current = [], {"name": None}

def eq_(a, b, *rest):
    for exp, got in ((a, b), (b, a)):
        if isinstance(got, Marker) and isinstance(exp, str):
            cases.append((current["name"], got.body, exp))
            return
    raise Skip()

class Skip(Exception): pass

def other(*a, **k): raise Skip()

quotations = types.ModuleType("talon.quotations")
quotations.extract_from_plain = lambda body, *a, **k: Marker(body)
quotations.MAX_LINES_COUNT = 1000
def anything(name):
    raise Skip()
quotations.__getattr__ = anything
talon = types.ModuleType("talon"); talon.quotations = quotations
talon.init = lambda: None
sys.modules["talon"] = talon; sys.modules["talon.quotations"] = quotations
six = types.ModuleType("six"); six.StringIO = __import__("io").StringIO; six.text_type = str
six.moves = types.ModuleType("six.moves"); six.moves.range = range
sys.modules["six"] = six; sys.modules["six.moves"] = six.moves

os.chdir(src_root)
ns = {"__name__": "talon_tests", "eq_": eq_, "ok_": other, "assert_false": other, "assert_true": other,
      "patch": mock.patch, "Mock": mock.Mock, "STANDARD_REPLIES": "tests/fixtures/standard_replies",
      "REPLY_QUOTATIONS_SHARE_BLOCK": open("tests/fixtures/reply-quotations-share-block.eml").read()}
code = open("tests/text_quotations_test.py", encoding="utf-8").read()
code = "\n".join(l for l in code.splitlines() if not l.startswith(("from . ", "from .fixtures", "import six", "from six")))
exec(compile(code, "text_quotations_test.py", "exec"), ns)
for name, fn in list(ns.items()):
    if not name.startswith("test_") or not callable(fn) or hasattr(fn, "patchings"):
        continue
    current["name"] = name
    before = len(cases)
    try:
        fn()
    except Exception:
        del cases[before:]  # a test that fails outside the recorder is left out whole
os.makedirs(out, exist_ok=True)
seen = {}
manifest = []
for name, body, expected in cases:
    seen[name] = seen.get(name, 0) + 1
    stem = f"{name}_{seen[name]}" if sum(1 for c in cases if c[0] == name) > 1 else name
    manifest.append({"name": stem, "body": body, "expected": expected})
json.dump(manifest, open(os.path.join(out, "cases.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print(len(manifest), "cases from", len({c[0] for c in cases}), "tests")
