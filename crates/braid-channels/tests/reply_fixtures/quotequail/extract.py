"""Pulls (input, expected) pairs out of closeio/quotequail's tests by reading their syntax
trees (nothing is run): the `@pytest.mark.parametrize` tables of `test_quote`,
`test_quote_html`, `test_unwrap`, `test_unwrap_html_simple` and `test_unwrap_html_file`, and
single `assert quote_html(x) == literal` / `assert unwrap_html(x) == literal` tests whose input
is a string literal or `read_file("name")`. Tests that pass options (`limit=`), check
internals or assert field by field are left out. Usage: python3 extract.py <quotequail
checkout> <out dir>"""
import ast, json, os, sys

src, out = sys.argv[1], sys.argv[2]
FUNCS = {"quote", "quote_html", "unwrap", "unwrap_html"}
cases = []

def add(test, func, inp, expected, expected_intro=None, file=None):
    case = {"name": f"{test}/{len([c for c in cases if c['name'].startswith(test + '/')])}",
            "func": func, "expected": expected}
    if file is not None:
        case["file"] = file
    else:
        case["input"] = inp
    if expected_intro is not None:
        case["expected_quote_intro_line"] = expected_intro
    cases.append(case)

for module, func in (("test_quote.py", "quote"), ("test_quote_html.py", "quote_html"),
                     ("test_unwrap.py", "unwrap"), ("test_unwrap_html.py", "unwrap_html")):
    tree = ast.parse(open(os.path.join(src, "tests", module), encoding="utf-8").read())
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        params = [d for d in fn.decorator_list if isinstance(d, ast.Call)
                  and ast.unparse(d.func) == "pytest.mark.parametrize"]
        if params:
            names = ast.literal_eval(params[0].args[0])
            if isinstance(names, str):
                names = [n.strip() for n in names.split(",")]
            for row in ast.literal_eval(params[0].args[1]):
                row = dict(zip(names, row))
                inp = row.get("text", row.get("html"))
                add(fn.name, func, inp, row["expected"], row.get("expected_quote_intro_line"),
                    file=row.get("file"))
            continue
        # A single `assert f(x) == literal`, x a literal or a variable set from read_file("name").
        files = {}
        for stmt in fn.body:
            if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                    and ast.unparse(stmt.value.func) == "read_file"):
                files[stmt.targets[0].id] = ast.literal_eval(stmt.value.args[0])
        asserts = [s for s in fn.body if isinstance(s, ast.Assert)]
        if len(asserts) != 1:
            continue
        test = asserts[0].test
        if not (isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.Eq)
                and isinstance(test.left, ast.Call) and ast.unparse(test.left.func) in FUNCS
                and not test.left.keywords and len(test.left.args) == 1):
            continue
        try:
            expected = ast.literal_eval(test.comparators[0])
        except ValueError:
            continue
        arg = test.left.args[0]
        if isinstance(arg, ast.Name) and arg.id in files:
            add(fn.name, ast.unparse(test.left.func), None, expected, file=files[arg.id])
        else:
            try:
                add(fn.name, ast.unparse(test.left.func), ast.literal_eval(arg), expected)
            except ValueError:
                continue

json.dump(cases, open(os.path.join(out, "cases.json"), "w", encoding="utf-8"),
          ensure_ascii=False, indent=1)
print(len(cases), "cases")
