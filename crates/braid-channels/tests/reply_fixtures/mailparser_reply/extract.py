"""Extracts assertions from alfonsrv/mail-parser-reply's test/test_email_reply_parser.py by
reading its syntax tree (nothing is run) and copies the fixtures the tests use. Each test becomes
one case: the fixture it reads and a list of checks {reply, field, op, value}, where `reply` is
the index into `mail.replies` (0 = the newest reply), `field` is body/content/signatures/headers
(or "count" for `len(mail.replies)`), and `op` is in/not_in/eq/startswith. Tests that pass
parser options or assert on anything else are left out with the reason.
Usage: python3 extract.py <mail-parser-reply checkout> <out dir>"""
import ast, json, os, shutil, sys

src, out = sys.argv[1], sys.argv[2]
tree = ast.parse(open(os.path.join(src, "test/test_email_reply_parser.py"), encoding="utf-8").read())


def reply_field(node):
    """mail.replies[i].field -> (i, field); mail.latest_reply -> (0, 'body')."""
    if isinstance(node, ast.Attribute) and node.attr == "latest_reply":
        return 0, "body"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Subscript):
        sub = node.value
        if isinstance(sub.value, ast.Attribute) and sub.value.attr == "replies":
            return sub.slice.value, node.attr
    return None


def check(test):
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(left, ast.Constant) and isinstance(left.value, str):
            rf = reply_field(right)
            kind = {ast.In: "in", ast.NotIn: "not_in", ast.Eq: "eq"}.get(type(op))
            if rf and kind:
                return {"reply": rf[0], "field": rf[1], "op": kind, "value": left.value}
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "startswith":
        rf = reply_field(test.func.value)
        if rf:
            return {"reply": rf[0], "field": rf[1], "op": "startswith", "value": test.args[0].value}
    raise ValueError(ast.unparse(test))


cases, skipped = [], []
for cls in tree.body:
    if not isinstance(cls, ast.ClassDef):
        continue
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_"):
            continue
        fixture, checks, why = None, [], None
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                if name == "get_email":
                    fixture = node.args[0].value
                    if any(k.arg == "parse" and k.value.value is False for k in node.keywords):
                        why = "builds the parser with its own options"
                elif name in ("assertTrue", "assertIn", "assertNotIn", "assertEqual"):
                    try:
                        if name == "assertTrue":
                            checks.append(check(node.args[0]))
                        elif name in ("assertIn", "assertNotIn"):
                            rf = reply_field(node.args[1])
                            if not rf:
                                raise ValueError(ast.unparse(node))
                            op = "in" if name == "assertIn" else "not_in"
                            checks.append({"reply": rf[0], "field": rf[1], "op": op, "value": node.args[0].value})
                        else:
                            a, b = node.args
                            if isinstance(b, ast.Call) and getattr(b.func, "id", "") == "len":
                                checks.append({"reply": None, "field": "count", "op": "eq", "value": a.value})
                            else:
                                raise ValueError(ast.unparse(node))
                    except (ValueError, AttributeError) as e:
                        why = why or f"asserts something else: {e}"
        if why or not fixture:
            skipped.append({"name": fn.name, "why": why or "no fixture"})
        else:
            cases.append({"name": fn.name, "fixture": fixture, "checks": checks})

os.makedirs(os.path.join(out, "emails"), exist_ok=True)
for c in cases:
    shutil.copyfile(os.path.join(src, "test/emails", c["fixture"] + ".txt"),
                    os.path.join(out, "emails", c["fixture"] + ".txt"))
json.dump({"cases": cases, "skipped": skipped}, open(os.path.join(out, "cases.json"), "w"),
          ensure_ascii=False, indent=1)
print(len(cases), "cases,", len(skipped), "skipped")
