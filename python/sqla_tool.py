#!/usr/bin/env python3
"""SQLAlchemy models inspector and fixer for runwright, run as a subprocess (JSON in on stdin, JSON out on stdout).

It reads a models package with Python's own `ast` (never regexes) and never imports it. Commands:

  {"cmd": "analyze", "root": REPO, "models_dir": "backend/app/models"}
      -> package layout, modules and what they import, mapped classes with their relationships
         (positional, keyword and typed Mapped[...] targets, back_populates, foreign_keys) and the
         problems SQLAlchemy would really raise, each with a mechanical repair where one exists.
  {"cmd": "fix", "root": ..., "models_dir": ..., "fix": "A"|"B"|"C", "model": "Organization", "dry_run": false}
      -> applies fix A (comment out every broken relationship), B (disable the model's file) or C (mechanical
         repairs) as precise text edits at ast positions (formatting and comments elsewhere are kept), then
         re-parses every edited file. Answers the touched paths and a description of every edit.
  {"cmd": "batch", "requests": [REQUEST, ...]}
      -> {"ok": true, "results": [ANSWER, ...]}: independent requests (the dry run of each fix) in one process

Every path it reads or writes is inside the models folder: symlinks that leave it are skipped, `..` is refused.
Errors: {"ok": false, "error": {"code": ..., "message": ...}} and exit status 2.
"""
import ast
import difflib
import json
import os
import re
import sys

SA_RELATIONSHIP_FUNCS = {"relationship", "relation"}
LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
MAPPED_WRAPPERS = {"Mapped", "WriteOnlyMapped", "DynamicMapped"}
COLLECTIONS = {"List", "list", "Set", "set", "FrozenSet", "frozenset", "Sequence", "Collection", "Iterable", "Tuple", "tuple", "Dict", "dict", "Mapping"}
NULL_WRAPPERS = {"Optional", "Union"}


class ToolError(Exception):
    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


# ----------------------------------------------------------------------------------------------------------
# Source files and positions


class Source:
    """One Python file: text, lines and its ast; converts ast (line, utf-8 byte col) to character offsets."""

    def __init__(self, root, rel, abs_path):
        self.rel = rel
        self.abs = abs_path
        with open(abs_path, "rb") as f:
            data = f.read()
        # Bytes are kept as they are: a BOM is set aside (and written back), line endings are not translated.
        self.bom = data.startswith(b"\xef\xbb\xbf")
        self.text = data[3:].decode("utf-8") if self.bom else data.decode("utf-8")
        # Lines as Python's tokenizer counts them (\r\n, \r or \n), not str.splitlines (which also splits on \f, \x1c ...).
        self.lines = LINE_RE.findall(self.text)
        self._starts = []
        pos = 0
        for line in self.lines:
            self._starts.append(pos)
            pos += len(line)
        self._starts.append(pos)
        self.error = None
        self.parents = {}
        try:
            self.tree = ast.parse(self.text, filename=rel)
        except SyntaxError as e:
            self.tree = None
            self.error = "%s: %s (line %s)" % (type(e).__name__, e.msg, e.lineno)
            return
        for node in ast.walk(self.tree):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    for child in block:
                        if isinstance(child, ast.stmt):
                            self.parents[id(child)] = block

    def only_statement(self, stmt):
        """True when stmt is alone in its block (commenting it out needs a `pass`)."""
        block = self.parents.get(id(stmt))
        return block is not None and len(block) == 1 and block is not self.tree.body

    def offset(self, line, col):
        """Character offset of ast position (1-based line, utf-8 byte column)."""
        if line - 1 >= len(self.lines):
            return len(self.text)
        raw = self.lines[line - 1].encode("utf-8")[:col]
        return self._starts[line - 1] + len(raw.decode("utf-8", errors="ignore"))

    def line_start(self, line):
        return self._starts[line - 1] if line - 1 < len(self._starts) else len(self.text)

    def line_end(self, line):
        """Offset just after the line's newline (start of the next line)."""
        return self._starts[line] if line < len(self._starts) else len(self.text)

    def seg(self, node):
        return self.text[self.offset(node.lineno, node.col_offset):self.offset(node.end_lineno, node.end_col_offset)]

    def node_span(self, node):
        return (self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset))

    def indent_of(self, line):
        s = self.lines[line - 1]
        return s[: len(s) - len(s.lstrip(" \t"))]


def owns_lines(src, stmt):
    """True when nothing but whitespace (and a trailing comment) shares the statement's first and last lines."""
    first = src.lines[stmt.lineno - 1]
    before = first[: len(first.encode("utf-8")[: stmt.col_offset].decode("utf-8", errors="ignore"))]
    if before.strip():
        return False
    last = src.lines[stmt.end_lineno - 1]
    after = last[len(last.encode("utf-8")[: stmt.end_col_offset].decode("utf-8", errors="ignore")):]
    rest = after.strip()
    return rest == "" or rest.startswith("#")


def quote_like(src_literal, value):
    """A Python string literal for value, in the quote style of an existing literal."""
    q = '"'
    stripped = src_literal.lstrip("rRbBuUfF")
    if stripped.startswith("'") and not stripped.startswith("'''"):
        q = "'"
    if q in value or "\\" in value or "\n" in value:
        return json.dumps(value)
    return q + value + q


# ----------------------------------------------------------------------------------------------------------
# Package discovery (confined to the models folder)


def real_inside(path, root):
    rp = os.path.realpath(path)
    rr = os.path.realpath(root)
    return rp == rr or rp.startswith(rr + os.sep)


def check_rel(rel):
    if not isinstance(rel, str) or rel == "" or "\0" in rel:
        raise ToolError("unsafe_path", "empty or invalid path")
    if os.path.isabs(rel):
        raise ToolError("unsafe_path", "absolute path not allowed: %r" % rel)
    parts = rel.replace("\\", "/").split("/")
    if ".." in parts:
        raise ToolError("unsafe_path", "path escapes its root: %r" % rel)


class Package:
    def __init__(self, root, models_dir):
        check_rel(models_dir)
        self.root = os.path.realpath(root)
        self.models_rel = os.path.normpath(models_dir).replace(os.sep, "/")
        abs_models = os.path.join(self.root, self.models_rel)
        if not real_inside(abs_models, self.root):
            raise ToolError("unsafe_path", "models folder leaves the repository: %r" % models_dir)
        if not os.path.isdir(abs_models):
            raise ToolError("not_found", "models folder not found: %r" % models_dir)
        self.models_abs = os.path.realpath(abs_models)
        self.import_name = self._import_name()
        self.skipped = []
        self.sources = {}  # rel path -> Source
        self.modules = {}  # module name -> rel path
        self.module_of = {}  # rel -> module name
        for dirpath, dirnames, filenames in os.walk(self.models_abs, followlinks=False):
            keep = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                if os.path.islink(full):
                    self.skipped.append({"path": self._rel(full), "reason": "symlinked folder (not followed)"})
                elif d == "__pycache__" or d.startswith("."):
                    continue
                else:
                    keep.append(d)
            dirnames[:] = keep
            for fn in sorted(filenames):
                if not fn.endswith(".py"):
                    continue
                full = os.path.join(dirpath, fn)
                rel = self._rel(full)
                if os.path.islink(full) and not real_inside(full, self.models_abs):
                    self.skipped.append({"path": rel, "reason": "symlink leaving the models folder"})
                    continue
                if os.path.islink(full):
                    self.skipped.append({"path": rel, "reason": "symlinked file (not followed)"})
                    continue
                src = Source(self.root, rel, full)
                self.sources[rel] = src
                mod = self._module_name(full)
                self.modules[mod] = rel
                self.module_of[rel] = mod

    def _rel(self, full):
        return os.path.relpath(full, self.root).replace(os.sep, "/")

    def _import_name(self):
        # Walk up while the folder is a package (has __init__.py), as Python would see it from sys.path.
        parts = []
        d = self.models_abs
        while os.path.isfile(os.path.join(d, "__init__.py")) and real_inside(d, self.root) and d != self.root:
            parts.insert(0, os.path.basename(d))
            d = os.path.dirname(d)
        if not parts:
            parts = [os.path.basename(self.models_abs)]
        return ".".join(parts)

    def _module_name(self, full):
        rel = os.path.relpath(full, self.models_abs).replace(os.sep, "/")[:-3]
        parts = rel.split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join([self.import_name] + parts) if parts else self.import_name

    @property
    def init_rel(self):
        return self.modules.get(self.import_name)

    def write(self, rel, text, bom=False):
        check_rel(rel)
        full = os.path.join(self.root, rel)
        if not real_inside(os.path.dirname(full), self.models_abs) or (os.path.lexists(full) and (os.path.islink(full) or not real_inside(full, self.models_abs))):
            raise ToolError("unsafe_path", "refusing to write outside the models folder: %r" % rel)
        with open(full, "wb") as f:
            f.write((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))

    def rename(self, rel_from, rel_to):
        for r in (rel_from, rel_to):
            check_rel(r)
        a = os.path.join(self.root, rel_from)
        b = os.path.join(self.root, rel_to)
        if os.path.islink(a) or not real_inside(a, self.models_abs) or not real_inside(os.path.dirname(b), self.models_abs):
            raise ToolError("unsafe_path", "refusing to rename outside the models folder: %r" % rel_from)
        if os.path.lexists(b):
            raise ToolError("exists", "%s already exists" % rel_to)
        os.rename(a, b)


# ----------------------------------------------------------------------------------------------------------
# Import graph


def runtime_statements(body):
    """Statements that run at import time: descend into if/try/with, skip `if TYPE_CHECKING:` and defs."""
    for st in body:
        if isinstance(st, ast.If):
            if is_type_checking(st.test):
                yield from runtime_statements(st.orelse)
                continue
            yield st
            yield from runtime_statements(st.body)
            yield from runtime_statements(st.orelse)
        elif isinstance(st, ast.Try) or (hasattr(ast, "TryStar") and isinstance(st, getattr(ast, "TryStar"))):
            yield st
            yield from runtime_statements(st.body)
            for h in st.handlers:
                yield from runtime_statements(h.body)
            yield from runtime_statements(st.orelse)
            yield from runtime_statements(st.finalbody)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            yield st
            yield from runtime_statements(st.body)
        else:
            yield st


def is_type_checking(test):
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return True
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return True
    return False


def resolve_from(module_name, is_pkg, node):
    """Absolute module named by an ImportFrom inside module `module_name`."""
    if node.level == 0:
        return node.module or ""
    base = module_name.split(".")
    if not is_pkg:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    if node.module:
        base = base + node.module.split(".")
    return ".".join(base)


class ImportInfo:
    def __init__(self, node, modules, names):
        self.node = node
        self.modules = modules  # absolute module names this statement imports (inside the package or not)
        self.names = names  # list of (name bound, source module, imported name)


def module_imports(pkg, rel):
    src = pkg.sources[rel]
    mod = pkg.module_of[rel]
    is_pkg = rel.endswith("__init__.py")
    out = []
    if src.tree is None:
        return out
    for st in runtime_statements(src.tree.body):
        if isinstance(st, ast.Import):
            mods = []
            names = []
            for a in st.names:
                parts = a.name.split(".")
                for i in range(1, len(parts) + 1):
                    mods.append(".".join(parts[:i]))
                names.append((a.asname or parts[0], a.name, None))
            out.append(ImportInfo(st, mods, names))
        elif isinstance(st, ast.ImportFrom):
            base = resolve_from(mod, is_pkg, st)
            parts = base.split(".") if base else []
            mods = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
            names = []
            for a in st.names:
                sub = base + "." + a.name if base else a.name
                if sub in pkg.modules:
                    mods.append(sub)
                names.append((a.asname or a.name, base, a.name))
            out.append(ImportInfo(st, mods, names))
    return out


DYNAMIC_IMPORTERS = {"import_module", "iter_modules", "walk_packages", "__import__", "find_spec", "spec_from_file_location", "exec_module", "load_module"}


def dynamic_loader(src):
    """True when the module imports modules at run time (importlib/pkgutil/__import__): what it loads cannot be read statically."""
    if src.tree is None:
        return False
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Call) and name_of(node.func) in DYNAMIC_IMPORTERS:
            return True
    return False


def reachable_modules(pkg):
    """Modules executed by `import <package>`: the package's __init__ and what it imports, transitively. A module
    that loads modules at run time (importlib/pkgutil) is taken to load every module of its own package and below:
    static reading must never declare a model unmapped that the running service maps."""
    seen = set()
    start = pkg.import_name
    stack = [start] if start in pkg.modules else []
    while stack:
        m = stack.pop()
        if m in seen or m not in pkg.modules:
            continue
        seen.add(m)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = m.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in pkg.modules and parent not in seen:
                stack.append(parent)
        for imp in module_imports(pkg, pkg.modules[m]):
            for x in imp.modules:
                if x in pkg.modules and x not in seen:
                    stack.append(x)
        rel = pkg.modules[m]
        if dynamic_loader(pkg.sources[rel]):
            prefix = m if rel.endswith("__init__.py") else m.rsplit(".", 1)[0]
            stack.extend(x for x in pkg.modules if (x == prefix or x.startswith(prefix + ".")) and x not in seen)
    return seen


# ----------------------------------------------------------------------------------------------------------
# Classes and relationships


def name_of(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def relationship_aliases(src):
    names = set(SA_RELATIONSHIP_FUNCS)
    if src.tree is None:
        return names
    for st in ast.walk(src.tree):
        if isinstance(st, ast.ImportFrom) and (st.module or "").startswith("sqlalchemy"):
            for a in st.names:
                if a.name in SA_RELATIONSHIP_FUNCS and a.asname:
                    names.add(a.asname)
    return names


def is_relationship_call(node, aliases):
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    if isinstance(f, ast.Name):
        return f.id in aliases
    if isinstance(f, ast.Attribute):
        return f.attr in SA_RELATIONSHIP_FUNCS
    return False


def parse_expr_string(s):
    try:
        return ast.parse(s.strip(), mode="eval").body
    except SyntaxError:
        return None


def annotation_target(node):
    """(class name, is_collection) from a Mapped[...] annotation, or (None, None)."""
    if node is None:
        return None, None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        inner = parse_expr_string(node.value)
        return annotation_target(inner) if inner is not None else (None, None)
    if isinstance(node, ast.Subscript):
        outer = name_of(node.value)
        sl = node.slice
        if hasattr(ast, "Index") and isinstance(sl, getattr(ast, "Index")):  # Python < 3.9
            sl = sl.value
        if outer in MAPPED_WRAPPERS:
            return annotation_target(sl)
        if outer in COLLECTIONS:
            elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            cls, _ = annotation_target(elts[-1])
            return cls, True
        if outer in NULL_WRAPPERS:
            elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            for e in elts:
                if isinstance(e, ast.Constant) and e.value is None:
                    continue
                if name_of(e) == "None":
                    continue
                return annotation_target(e)
        return None, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        for side in (node.left, node.right):
            if isinstance(side, ast.Constant) and side.value is None:
                continue
            return annotation_target(side)
    if isinstance(node, (ast.Name, ast.Attribute)):
        n = name_of(node)
        return (n, False) if n and n != "None" else (None, None)
    return None, None


def edit_distance(a, b):
    """Levenshtein distance (names are short)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def flask_table_name(name):
    """Flask-SQLAlchemy 3.x's camel_to_snake_case (flask_sqlalchemy/model.py): CamelCase -> camel_case."""
    name = re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", name)
    return name.lower().lstrip("_")


def string_target(s):
    s = s.strip()
    if not s:
        return None
    return s.split(".")[-1] if all(p.isidentifier() for p in s.split(".")) else None


def rewrite_expr_string(source, fixes):
    """Replace (start, end) utf-8 byte spans of the stripped expression string, keeping surrounding spaces."""
    inner = source.strip()
    lead = len(source) - len(source.lstrip())
    raw = inner.encode("utf-8")
    for (a, b), rep in sorted(fixes.items(), reverse=True):
        raw = raw[:a] + rep.encode("utf-8") + raw[b:]
    return source[:lead] + raw.decode("utf-8") + source[lead + len(inner):]


def fk_refs(expr):
    """(Base, attr, node) for each `Base.attr` inside a foreign_keys expression; bare names as (None, name, node)."""
    out = []
    for n in ast.walk(expr):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            out.append((n.value.id, n.attr, n))
    attr_values = {id(n.value) for (_, _, n) in out}
    for n in ast.walk(expr):
        if isinstance(n, ast.Name) and id(n) not in attr_values:
            out.append((None, n.id, n))
    return out


class Span:
    """The lines of a `@declared_attr` def (decorators included): what fix A comments out."""

    def __init__(self, fn):
        dec = fn.decorator_list[0]
        self.lineno = dec.lineno
        self.col_offset = max(0, dec.col_offset - 1)  # the '@'
        self.end_lineno = fn.end_lineno
        self.end_col_offset = fn.end_col_offset
        self.fn = fn


def is_declared_attr(fn):
    for d in fn.decorator_list:
        f = d.func if isinstance(d, ast.Call) else d
        if name_of(f) in ("declared_attr", "directive") or (isinstance(f, ast.Attribute) and name_of(f.value) == "declared_attr"):
            return True
    return False


def returned_relationship(fn, aliases):
    """The relationship() call a declared_attr function returns, if it returns exactly one."""
    calls = [st.value for st in ast.walk(fn) if isinstance(st, ast.Return) and st.value is not None]
    if len(calls) == 1 and is_relationship_call(calls[0], aliases):
        return calls[0]
    return None


class Rel:
    def __init__(self, cls, stmt, call, attr, src):
        self.mapped_as = None  # mixin relationships: the mapped classes that inherit it
        self.cls = cls
        self.stmt = stmt
        self.call = call
        self.attr = attr
        self.src = src
        self.target = None
        self.target_from = None
        self.collection = None
        self.kw = {k.arg: k for k in call.keywords if k.arg}
        self.back_populates = self._kw_str("back_populates")
        self.backref = None
        b = self.kw.get("backref")
        if b is not None:
            if isinstance(b.value, ast.Constant) and isinstance(b.value.value, str):
                self.backref = b.value.value
            elif isinstance(b.value, ast.Call) and b.value.args and isinstance(b.value.args[0], ast.Constant):
                self.backref = b.value.args[0].value
        first = call.args[0] if call.args else (self.kw["argument"].value if "argument" in self.kw else None)
        if isinstance(first, ast.Lambda):
            first = first.body
        self.target_node = None  # the string constant or name that names the target (for a rename)
        self.target_module = None  # "app.models.billing" of "app.models.billing.Invoice"
        self.target_string = None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            self.target = string_target(first.value)
            self.target_from = "string"
            self.target_node = first
            self.target_string = first.value.strip()
            if self.target and "." in self.target_string:
                self.target_module = self.target_string.rsplit(".", 1)[0]
        elif isinstance(first, (ast.Name, ast.Attribute)):
            self.target = name_of(first)
            self.target_from = "name"
        elif first is None and isinstance(stmt, ast.AnnAssign):
            self.target, self.collection = annotation_target(stmt.annotation)
            self.target_from = "annotation" if self.target else None
            self.target_node = stmt.annotation if self.target else None
        if isinstance(stmt, ast.AnnAssign) and self.collection is None:
            _, self.collection = annotation_target(stmt.annotation)
        if "uselist" in self.kw and isinstance(self.kw["uselist"].value, ast.Constant):
            self.collection = bool(self.kw["uselist"].value.value)
        # secondary=: a table name (string) or an object (a name bound in the module, or an attribute)
        self.secondary = None
        sk = self.kw.get("secondary")
        if sk is not None:
            v = sk.value
            if isinstance(v, ast.Lambda):
                v = v.body
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                self.secondary = {"kind": "string", "name": v.value.strip(), "node": v}
            elif isinstance(v, ast.Name):
                self.secondary = {"kind": "name", "name": v.id, "node": v}
            else:
                self.secondary = {"kind": "expr", "name": None, "node": v}
        # string expressions SQLAlchemy evaluates against the class registry at configure time
        self.exprs = {}
        for key in ("primaryjoin", "secondaryjoin", "order_by", "remote_side"):
            k2 = self.kw.get(key)
            if k2 is not None and isinstance(k2.value, ast.Constant) and isinstance(k2.value.value, str):
                self.exprs[key] = {"node": k2.value, "source": k2.value.value, "expr": parse_expr_string(k2.value.value)}
        self.fk = None
        k = self.kw.get("foreign_keys")
        if k is not None:
            v = k.value
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                parsed = parse_expr_string(v.value)
                self.fk = {"kind": "string", "source": v.value, "node": v, "expr": parsed}
            else:
                self.fk = {"kind": "expr", "source": src.seg(v), "node": v, "expr": v}

    def _kw_str(self, name):
        k = self.kw.get(name)
        if k is not None and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
            return k.value.value
        return None

    def to_json(self):
        return {
            "attr": self.attr,
            "class": self.cls.name,
            "path": self.src.rel,
            "line": self.stmt.lineno,
            "end_line": self.stmt.end_lineno,
            "target": self.target,
            "target_from": self.target_from,
            "collection": self.collection,
            "typed": isinstance(self.stmt, ast.AnnAssign),
            "back_populates": self.back_populates,
            "backref": self.backref,
            "foreign_keys": None if self.fk is None else {"kind": self.fk["kind"], "source": self.fk["source"]},
            "target_module": self.target_module,
            "secondary": None if self.secondary is None else self.secondary["name"],
            "declared_attr": isinstance(self.stmt, Span),
            "mapped_as": sorted(self.mapped_as) if self.mapped_as else None,
            "call": self.src.seg(self.call.func),
            "source": self.src.seg(self.stmt),
        }


class ClassInfo:
    def __init__(self, node, src, module):
        self.node = node
        self.src = src
        self.module = module
        self.name = node.name
        self.bases = [name_of(b) for b in node.bases]
        # Flask-SQLAlchemy: `class X(db.Model)` is mapped without __tablename__ (named from the class, see flask_table_name)
        self.flask = any(isinstance(b, ast.Attribute) and b.attr == "Model" for b in node.bases)
        self.declared_tablename = False
        self.has_pk = False
        self.tablename = None
        self.abstract = False
        self.has_table = False
        self.attrs = {}  # name -> kind: column | relationship | other
        self.columns_fk = {}  # column attr -> referenced table names
        self.column_names = {}  # attr -> db column name
        self.rels = []
        aliases = relationship_aliases(src)
        for st in node.body:
            targets = []
            value = None
            if isinstance(st, ast.Assign):
                targets = [t.id for t in st.targets if isinstance(t, ast.Name)]
                value = st.value
            elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                targets = [st.target.id]
                value = st.value
            elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                call = returned_relationship(st, aliases) if st.decorator_list and is_declared_attr(st) else None
                if call is not None:
                    self.attrs[st.name] = "relationship"
                    self.rels.append(Rel(self, Span(st), call, st.name, src))
                elif st.name == "__tablename__" and st.decorator_list and is_declared_attr(st):
                    self.declared_tablename = True
                else:
                    self.attrs[st.name] = "other"
                continue
            else:
                continue
            for t in targets:
                if t == "__tablename__" and isinstance(value, ast.Constant):
                    self.tablename = value.value
                elif t == "__table__":
                    self.has_table = True
                elif t == "__abstract__" and isinstance(value, ast.Constant):
                    self.abstract = bool(value.value)
                if value is not None and is_relationship_call(value, aliases):
                    self.attrs[t] = "relationship"
                    self.rels.append(Rel(self, st, value, t, src))
                elif value is not None or isinstance(st, ast.AnnAssign):
                    self.attrs[t] = "column" if self._is_column(value, st) else "other"
                    if self.attrs[t] == "column":
                        if isinstance(value, ast.Call) and any(k.arg == "primary_key" and isinstance(k.value, ast.Constant) and k.value.value is True for k in value.keywords):
                            self.has_pk = True
                        self.columns_fk[t] = self._fk_tables(value)
                        self.column_names[t] = self._column_name(value) or t

    @staticmethod
    def _is_column(value, st):
        if isinstance(value, ast.Call) and name_of(value.func) in ("Column", "mapped_column", "column_property"):
            return True
        if value is None and isinstance(st, ast.AnnAssign):
            return True  # `id: Mapped[int]` is a column in 2.0 declarative
        return False

    @staticmethod
    def _fk_tables(value):
        out = []
        if not isinstance(value, ast.Call):
            return out
        for a in list(value.args) + [k.value for k in value.keywords]:
            if isinstance(a, ast.Call) and name_of(a.func) == "ForeignKey" and a.args:
                x = a.args[0]
                if isinstance(x, ast.Constant) and isinstance(x.value, str):
                    out.append(x.value.rsplit(".", 1)[0])
                elif isinstance(x, ast.Attribute) and isinstance(x.value, ast.Name):
                    out.append(x.value.id)
        return out

    @staticmethod
    def _column_name(value):
        if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant) and isinstance(value.args[0].value, str):
            return value.args[0].value
        return None

    @property
    def mapped(self):
        return not self.abstract and (self.tablename is not None or self.has_table)

    def to_json(self, active):
        return {
            "name": self.name,
            "module": self.module,
            "path": self.src.rel,
            "line": self.node.lineno,
            "end_line": self.node.end_lineno,
            "bases": [b for b in self.bases if b],
            "tablename": self.tablename,
            "mapped": self.mapped,
            "imported": active,
            "columns": sorted(k for k, v in self.attrs.items() if v == "column"),
            "relationships": [r.to_json() for r in self.rels],
        }


# ----------------------------------------------------------------------------------------------------------
# Analysis: what SQLAlchemy would really say about each relationship


class Model:
    def __init__(self, pkg):
        self.pkg = pkg
        self.reachable = reachable_modules(pkg)
        self.classes = []
        for rel, src in sorted(pkg.sources.items()):
            if src.tree is None:
                continue
            for st in runtime_statements(src.tree.body):
                if isinstance(st, ast.ClassDef):
                    self.classes.append(ClassInfo(st, src, pkg.module_of[rel]))
        self.by_name = {}
        for c in self.classes:
            self.by_name.setdefault(c.name, []).append(c)
        self._imperative()
        # inherited attributes from parents defined in the package (parents first: a parent's table name may
        # itself be inherited or generated)
        done = set()
        for c in self.classes:
            self._inherit(c, done, set())
        # relationships a mixin declares (@declared_attr) belong to every mapped class that inherits it
        for c in self.classes:
            if not c.mapped:
                continue
            for p in self.ancestors(c):
                if p.mapped:
                    continue
                for r in p.rels:
                    r.mapped_as = (r.mapped_as or set()) | {c.name}
        # The folder's own package imports no mapped class at all (an empty app/__init__.py above a single
        # app/models.py, or a package the service imports module by module): the service imports the modules
        # itself, and which ones cannot be read from here. Never call a model unmapped on that ground.
        if self.classes and not any(c.mapped and c.module in self.reachable for c in self.classes):
            self.reachable = set(pkg.modules)

    def _imperative(self):
        """Classical mappings: `registry.map_imperatively(Cls, table, properties={"x": relationship(...)})` (and 1.4's
        `mapper(...)`) map a plain class of the same module onto a Table; its relationships live in that dict."""
        for rel, src in sorted(self.pkg.sources.items()):
            if src.tree is None:
                continue
            tables = {}
            for st in runtime_statements(src.tree.body):
                v = getattr(st, "value", None)
                if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) and isinstance(v, ast.Call) and name_of(v.func) == "Table" and v.args:
                    if isinstance(v.args[0], ast.Constant) and isinstance(v.args[0].value, str):
                        cols = [a.args[0].value for a in v.args[1:] if isinstance(a, ast.Call) and name_of(a.func) == "Column" and a.args and isinstance(a.args[0], ast.Constant) and isinstance(a.args[0].value, str)]
                        tables[st.targets[0].id] = (v.args[0].value, cols)
            aliases = relationship_aliases(src)
            for node in ast.walk(src.tree):
                if not (isinstance(node, ast.Call) and name_of(node.func) in ("map_imperatively", "mapper") and len(node.args) >= 2 and isinstance(node.args[0], ast.Name)):
                    continue
                cls = next((c for c in self.by_name.get(node.args[0].id, []) if c.src is src), None)
                if cls is None:
                    continue
                cls.has_table = True
                t = node.args[1]
                if isinstance(t, ast.Name) and t.id in tables:
                    cls.tablename = tables[t.id][0]
                    for col in tables[t.id][1]:
                        cls.attrs.setdefault(col, "column")
                props = next((k.value for k in node.keywords if k.arg == "properties"), None)
                if not isinstance(props, ast.Dict):
                    continue
                for k, v in zip(props.keys, props.values):
                    if isinstance(k, ast.Constant) and isinstance(k.value, str) and is_relationship_call(v, aliases):
                        cls.rels.append(Rel(cls, v, v, k.value, src))
                        cls.attrs[k.value] = "relationship"

    def ancestors(self, c):
        out, seen, stack = [], set(), [b for b in c.bases if b]
        while stack:
            b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            for p in self.by_name.get(b, []):
                if p is c:
                    continue
                out.append(p)
                stack.extend(x for x in p.bases if x)
        return out

    def _inherit(self, c, done, busy):
        if id(c) in done or id(c) in busy:
            return
        busy.add(id(c))
        parents = [p for b in c.bases if b for p in self.by_name.get(b, []) if p is not c]
        for p in parents:
            self._inherit(p, done, busy)
        mapped_parent = None
        for p in self.ancestors(c):
            for k, v in p.attrs.items():
                c.attrs.setdefault(k, v)
            for k, v in p.columns_fk.items():
                c.columns_fk.setdefault(k, v)
            for k, v in p.column_names.items():
                c.column_names.setdefault(k, v)
            c.flask = c.flask or p.flask
            c.declared_tablename = c.declared_tablename or p.declared_tablename
            if mapped_parent is None and p.mapped:
                mapped_parent = p
        if c.tablename is None and not c.has_table and not c.abstract:
            if c.flask and (c.has_pk or mapped_parent is None):
                c.tablename = flask_table_name(c.name)  # Flask-SQLAlchemy names the table from the class
            elif mapped_parent is not None:
                c.tablename = mapped_parent.tablename  # single-table inheritance
            elif c.declared_tablename and c.has_pk:
                c.tablename = c.name.lower()  # a mixin's @declared_attr __tablename__ (the usual cls.__name__.lower())
        busy.discard(id(c))
        done.add(id(c))

    def active(self, c):
        return c.module in self.reachable

    def active_class(self, name):
        xs = [c for c in self.by_name.get(name, []) if self.active(c)]
        return xs[0] if len(xs) == 1 else None

    def class_for_table(self, table):
        xs = [c for c in self.classes if self.active(c) and c.tablename == table]
        return xs[0] if len(xs) == 1 else None

    def rels(self, only_active=True):
        for c in self.classes:
            if only_active and not (self.active(c) and (c.mapped or self.mixin_in_use(c))):
                continue
            for r in c.rels:
                yield r

    def mixin_in_use(self, c):
        """A mixin (not mapped itself) whose declared_attr relationships some imported mapped class inherits."""
        return any(r.mapped_as and any(self.active_class(n) is not None for n in r.mapped_as) for r in c.rels)

    def all_rels(self, c):
        """c's relationships, its own and inherited (mixins, parents)."""
        out = list(c.rels)
        for p in self.ancestors(c):
            out.extend(p.rels)
        return out

    def problems(self):
        out = []
        for r in self.rels():
            out.extend(self.check(r))
        for i, p in enumerate(out):
            p["id"] = "p%d" % (i + 1)
        return out

    def verdicts(self):
        res = []
        for r in self.rels(only_active=False):
            probs = self.check(r) if self.active(r.cls) and (r.cls.mapped or self.mixin_in_use(r.cls)) else []
            j = r.to_json()
            j["active"] = self.active(r.cls)
            j["verdict"] = "broken" if probs else ("ok" if self.active(r.cls) else "not_loaded")
            j["problems"] = [p["kind"] for p in probs]
            res.append(j)
        return res

    def _problem(self, r, kind, message, needs_person=False, repair=None, **extra):
        p = {
            "kind": kind,
            "class": r.cls.name,
            "attr": r.attr,
            "path": r.src.rel,
            "line": r.stmt.lineno,
            "end_line": r.stmt.end_lineno,
            "target": r.target,
            "message": message,
            "needs_person": needs_person,
            "repair": repair,
        }
        if r.mapped_as:
            p["mapped_as"] = sorted(r.mapped_as)
        p.update(extra)
        return p

    def check(self, r):
        out = []
        if r.target is None:
            return out  # lambda/expression targets: SQLAlchemy resolves them, we do not guess
        defs = self.by_name.get(r.target, [])
        active_defs = [c for c in defs if self.active(c)]
        tc = active_defs[0] if len(active_defs) == 1 else None
        if not defs:
            close = self.close_classes(r.target)
            if len(close) == 1 and self._rename_fits(r, close[0]):
                # "app.models.billing.Invoce": the word is preceded by its module path, so the whole string is
                # rewritten to where the close class is defined (SQLAlchemy looks it up by that exact path)
                qualified = r.target_module is not None and r.target_string
                repair = {"op": "rename_target", "from": r.target_string, "to": "%s.%s" % (close[0].module, close[0].name)} if qualified else {"op": "rename_target", "from": r.target, "to": close[0].name}
                out.append(self._problem(r, "misspelled_class", "%s.%s points at %s, which no module defines; the only close class is %s" % (r.cls.name, r.attr, r.target_string if qualified else r.target, close[0].name),
                                         repair=repair, close_to=[close[0].name]))
            else:
                out.append(self._problem(r, "missing_class", "%s.%s points at %s, which no module of the models package defines%s" % (r.cls.name, r.attr, r.target, " (close: %s)" % ", ".join(c.name for c in close) if close else ""), needs_person=True, close_to=[c.name for c in close]))
            return out
        if not active_defs:
            d = defs[0]
            repair = None
            if len(defs) == 1 and d.src.tree is not None:
                repair = {"op": "add_import", "module": d.module, "name": d.name, "path": d.src.rel}
            out.append(self._problem(r, "not_imported", "%s is defined in %s, but nothing imported by the models package imports that module, so SQLAlchemy cannot locate the name" % (r.target, d.src.rel), repair=repair, defined_in=d.src.rel))
            return out
        if r.target_module is not None and not any(c.module == r.target_module for c in active_defs):
            # "app.models.old.Invoice": SQLAlchemy looks the class up by that exact module path
            near = tc
            if near is None:
                # the name is defined in several modules ("Multiple classes found"): only a module path one typo
                # away from exactly one of them says which was meant
                typo = [c for c in active_defs if edit_distance(c.module, r.target_module) <= 2]
                near = typo[0] if len(typo) == 1 else None
            repair = {"op": "rename_target", "from": r.target_string, "to": "%s.%s" % (near.module, near.name)} if near is not None else None
            out.append(self._problem(r, "stale_module_path", "%s.%s points at %r, but %s is defined in module %s" % (r.cls.name, r.attr, r.target_string, r.target, ", ".join(sorted(c.module for c in active_defs))),
                                     needs_person=repair is None, repair=repair, target_string=r.target_string))
            return out
        if tc is None:
            # defined in several modules and named without its module: SQLAlchemy's "Multiple classes found for
            # path". The module-qualified path is the repair only when exactly one of them is linked to this class
            # by a foreign key (either way); otherwise which one was meant is a person's call.
            if r.target_module is None and len(active_defs) > 1:
                linked = [c for c in active_defs if r.secondary is None and r.target_from == "string" and self._fk_linked(r.cls, c)]
                repair = {"op": "rename_target", "from": r.target_string, "to": "%s.%s" % (linked[0].module, linked[0].name)} if len(linked) == 1 else None
                out.append(self._problem(r, "ambiguous_class", "%s.%s points at %s, which is defined in several modules (%s): SQLAlchemy needs a module-qualified path" % (r.cls.name, r.attr, r.target, ", ".join(sorted(c.module for c in active_defs))),
                                         needs_person=repair is None, repair=repair, target_string=r.target_string, close_to=sorted("%s.%s" % (c.module, c.name) for c in active_defs)))
            return out
        out.extend(self._check_secondary(r))
        out.extend(self._check_exprs(r))
        if r.mapped_as:
            return out  # a mixin's relationship: the rest depends on the class it lands on
        if r.back_populates is not None:
            out.extend(self._check_backpop(r, tc))
        if r.fk is not None:
            out.extend(self._check_fk(r, tc))
        elif not out:
            out.extend(self._check_join(r, tc))
        return out

    # -- names close to a wrong one -----------------------------------------------------------------------
    def close_classes(self, name):
        names = sorted({c.name for c in self.classes if self.active(c) and c.mapped and self.active_class(c.name) is c})
        hits = difflib.get_close_matches(name, names, n=5, cutoff=0.65)
        typos = [n for n in hits if edit_distance(n.lower(), name.lower()) <= 2]
        if typos:
            hits = typos  # a typo-level difference beats a merely similar name
        return [self.active_class(n) for n in hits]

    @staticmethod
    def _fk_linked(a, b):
        """A foreign key column of either class refers to the other's table (or class)."""
        def refers(holder, other):
            return any(other.tablename in ts or other.name in ts for ts in holder.columns_fk.values())
        return a is not b and bool(a.tablename and b.tablename) and (refers(a, b) or refers(b, a))

    def _rename_fits(self, r, cls):
        """Renaming the target keeps the relationship consistent: back_populates (if any) exists on the new class."""
        if r.back_populates is None:
            return True
        return cls.attrs.get(r.back_populates) == "relationship"

    def table_names(self):
        """Tables the metadata will hold: mapped classes' and Table("name", ...) objects of imported modules."""
        names = {c.tablename for c in self.classes if self.active(c) and c.mapped and c.tablename}
        objects = {}
        for rel, src in self.pkg.sources.items():
            if src.tree is None or self.pkg.module_of[rel] not in self.reachable:
                continue
            for st in ast.walk(src.tree):
                if isinstance(st, ast.Call) and name_of(st.func) == "Table" and st.args and isinstance(st.args[0], ast.Constant) and isinstance(st.args[0].value, str):
                    names.add(st.args[0].value)
                    schema = next((k.value.value for k in st.keywords if k.arg == "schema" and isinstance(k.value, ast.Constant)), None)
                    if schema:
                        names.add("%s.%s" % (schema, st.args[0].value))
        return names

    def unimported_tables(self):
        """Table("name", ...) bound to a module-level name in a module nothing imports: name -> [(module, binding, path)]."""
        out = {}
        for rel, src in sorted(self.pkg.sources.items()):
            mod = self.pkg.module_of[rel]
            if src.tree is None or mod in self.reachable or rel.endswith("__init__.py"):
                continue
            for st in runtime_statements(src.tree.body):
                if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                    v = st.value
                    if isinstance(v, ast.Call) and name_of(v.func) == "Table" and v.args and isinstance(v.args[0], ast.Constant) and isinstance(v.args[0].value, str):
                        out.setdefault(v.args[0].value, []).append((mod, st.targets[0].id, rel))
        return out

    def _check_secondary(self, r):
        sec = r.secondary
        if sec is None:
            return []
        if sec["kind"] == "string":
            name = sec["name"]
            tables = self.table_names()
            if name in tables or not all(p.isidentifier() for p in name.split(".")):
                return []
            unimported = self.unimported_tables().get(name, [])
            if len(unimported) == 1:
                mod, var, rel = unimported[0]
                return [self._problem(r, "secondary_missing", "secondary=%r: the table is defined in %s, but nothing imported by the models package imports that module, so the metadata has no such table" % (name, rel),
                                      repair={"op": "add_import", "module": mod, "name": var, "path": rel}, secondary=name, defined_in=rel)]
            close = difflib.get_close_matches(name, sorted(tables), n=2, cutoff=0.8)
            repair = {"op": "set_secondary", "value": close[0]} if len(close) == 1 else None
            return [self._problem(r, "secondary_missing", "secondary=%r: no table of that name in the models package%s" % (name, " (close: %s)" % ", ".join(close) if close else ""), repair=repair, secondary=name)]
        if sec["kind"] == "name":
            name = sec["name"]
            if name in module_bindings(r.src) or name in r.cls.attrs or name in dir(__builtins__):
                return []
            return [self._problem(r, "secondary_undefined", "secondary=%s: no such name in %s (NameError at import)" % (name, r.src.rel), secondary=name, undefined_name=name)]
        return []

    def _check_exprs(self, r):
        out = []
        for key, e in sorted(r.exprs.items()):
            if e["expr"] is None:
                out.append(self._problem(r, "expr_unparseable", "%s=%r is not a Python expression" % (key, e["source"]), needs_person=True, argument=key))
                continue
            fixes = {}
            bad = []
            names, attrs = [], []
            for node in ast.walk(e["expr"]):
                if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
                    continue
                base, attr = node.value.id, node.attr
                cls = self.active_class(base)
                if cls is None:
                    if base in self.by_name or base in self.table_names() or not base[:1].isupper():
                        continue
                    close = self.close_classes(base)
                    bad.append("no class named %s" % base)
                    names.append(base)
                    if len(close) == 1 and attr in close[0].attrs:
                        fixes[(node.value.col_offset, node.value.end_col_offset)] = close[0].name
                    continue
                if attr in cls.attrs:
                    continue
                # join conditions and orderings compare columns: only a column can be what was meant
                columns = sorted(k for k, v in cls.attrs.items() if v == "column")
                cands = [k for k in columns if k.lower() == attr.lower()] or difflib.get_close_matches(attr, columns, n=2, cutoff=0.75)
                bad.append("%s has no attribute %r" % (cls.name, attr))
                attrs.append("%s.%s" % (cls.name, attr))
                if len(cands) == 1:
                    fixes[(node.col_offset, node.end_col_offset)] = "%s.%s" % (cls.name, cands[0])
            if not bad:
                continue
            repair = None
            if len(fixes) == len(bad) and "\n" not in e["source"].strip():
                repair = {"op": "set_expr", "argument": key, "value": rewrite_expr_string(e["source"], fixes)}
            kind = "expr_unknown_name" if names else "expr_unknown_attr"
            out.append(self._problem(r, kind, "%s=%r: %s" % (key, e["source"], "; ".join(bad)), needs_person=bool(names) and repair is None, repair=repair, argument=key, expression=e["source"],
                                     unknown_names=names, unknown_attrs=attrs))
        return out

    def _check_join(self, r, tc):
        """No foreign_keys/primaryjoin/secondary: SQLAlchemy joins on the foreign keys between the two tables, and
        fails when there is none (NoForeignKeysError) or several (AmbiguousForeignKeysError)."""
        cls = r.cls
        if r.secondary is not None or "primaryjoin" in r.exprs or "primaryjoin" in r.kw or cls is tc:
            return []
        if not (cls.mapped and tc.mapped and cls.tablename and tc.tablename) or cls.tablename == tc.tablename:
            return []
        known = self.table_names() | {c.name for c in self.classes}
        for c in (cls, tc):
            if any(t not in known for ts in c.columns_fk.values() for t in ts):
                return []  # a key to a table nobody defines fails on its own: not a join-condition problem
            if c.has_table or "__table_args__" in c.attrs or c.declared_tablename or any(p.mapped for p in self.ancestors(c)):
                return []  # keys we cannot read statically (constraints, inheritance): not ours to judge
        def refs(holder, other):
            return sorted(k for k, tables in holder.columns_fk.items() if other.tablename in tables or other.name in tables)
        mine = refs(cls, tc)  # many-to-one: cls holds the key
        theirs = refs(tc, cls)  # one-to-many: the target holds the key
        n = len(mine) + len(theirs)
        if n == 0:
            return [self._problem(r, "no_foreign_keys", "%s.%s: no foreign key links %s and %s (NoForeignKeysError)" % (cls.name, r.attr, cls.tablename, tc.tablename))]
        if n == 1:
            return []
        # several paths: the one the relationship's own name (or its counterpart's) points at
        names = {r.attr}
        for x in tc.rels:
            if x.target == cls.name and (x.back_populates == r.attr or (r.back_populates and x.attr == r.back_populates)):
                names.add(x.attr)
        if r.back_populates:
            names.add(r.back_populates)
        if r.backref:
            names.add(r.backref)
        def fits(holder, col):
            dbcol = holder.column_names.get(col, col)
            return any(c in (n + "_id", n + "_fk", n + "_key") for n in names for c in (col, dbcol))
        hits = [(cls, c) for c in mine if fits(cls, c)] + [(tc, c) for c in theirs if fits(tc, c)]
        repair = None
        if len(hits) == 1:
            holder, col = hits[0]
            repair = {"op": "add_foreign_keys", "value": "[%s.%s]" % (holder.name, col)}
        paths = ["%s.%s" % (cls.name, c) for c in mine] + ["%s.%s" % (tc.name, c) for c in theirs]
        return [self._problem(r, "ambiguous_foreign_keys", "%s.%s: %d foreign key paths between %s and %s (%s)%s" % (cls.name, r.attr, n, cls.tablename, tc.tablename, ", ".join(paths), "" if repair else "; none is named after the relationship"), repair=repair, paths=paths)]

    def _pointing_back(self, tc, cls):
        return [x for x in tc.rels if x.target == cls.name]

    def _check_backpop(self, r, tc):
        bp = r.back_populates
        kind = tc.attrs.get(bp)
        back = self._pointing_back(tc, r.cls)
        if kind == "relationship":
            rel = next((x for x in tc.rels if x.attr == bp), None)
            if rel is None or rel.target == r.cls.name or rel.target is None or rel.target not in self.by_name:
                return []  # (a counterpart pointing at no class at all is that relationship's own problem)
            kind_name, msg = "backpop_wrong_class", "back_populates=%r names %s.%s, which points at %s, not %s" % (bp, tc.name, bp, rel.target, r.cls.name)
        elif kind is None:
            kind_name, msg = "backpop_missing", "back_populates=%r: %s has no attribute %r" % (bp, tc.name, bp)
        else:
            kind_name, msg = "backpop_not_relationship", "back_populates=%r names %s.%s, which is not a relationship" % (bp, tc.name, bp)
        repair = None
        free = [x for x in back if x.attr != r.attr or x.cls is not r.cls]
        if len(free) == 1:
            repair = {"op": "set_back_populates", "value": free[0].attr, "counterpart": "%s.%s" % (tc.name, free[0].attr)}
        elif not free and kind is None:
            repair = {"op": "add_counterpart", "class": tc.name, "path": tc.src.rel, "attr": bp, "target": r.cls.name, "back_populates": r.attr}
        return [self._problem(r, kind_name, msg, repair=repair, back_populates=bp)]

    def _check_fk(self, r, tc):
        fk = r.fk
        out = []
        if fk["kind"] == "string":
            if fk["expr"] is None:
                return [self._problem(r, "fk_unparseable", "foreign_keys=%r is not a Python expression" % fk["source"], needs_person=True)]
            fixes = {}
            bad = []
            for base, attr, node in fk_refs(fk["expr"]):
                if base is None:
                    continue
                cls = self.active_class(base)
                if cls is None and base in self.by_name:
                    continue  # defined but ambiguous/not loaded: reported elsewhere
                if cls is not None:
                    if attr in cls.attrs:
                        continue
                    cand = self._fk_candidates(r, tc, cls)
                    bad.append(("fk_unknown_attr", "%s has no mapped column named %r" % (cls.name, attr)))
                    if len(cand) == 1:
                        fixes[(node.col_offset, node.end_col_offset)] = "%s.%s" % (cls.name, cand[0])
                    continue
                tcls = self.class_for_table(base)
                if tcls is not None:
                    bad.append(("fk_table_string", "%r names the table %s, not a class: use %s.%s" % (base + "." + attr, base, tcls.name, attr)))
                    col = attr if attr in tcls.attrs else None
                    if col is None:
                        # the string may name the database column; map it back to the attribute
                        col = next((k for k, v in tcls.column_names.items() if v == attr), None)
                    if col is not None:
                        fixes[(node.col_offset, node.end_col_offset)] = "%s.%s" % (tcls.name, col)
                    continue
                bad.append(("fk_unknown_name", "%r: no class or table named %s in the models package" % (base + "." + attr, base)))
            if not bad:
                return out
            repair = None
            if len(fixes) == len(bad):
                inner = fk["source"].strip()
                lead = len(fk["source"]) - len(fk["source"].lstrip())
                # ast columns inside the parsed string are byte offsets of the stripped text
                raw = inner.encode("utf-8")
                for (a, b), rep in sorted(fixes.items(), reverse=True):
                    raw = raw[:a] + rep.encode("utf-8") + raw[b:]
                value = fk["source"][:lead] + raw.decode("utf-8") + fk["source"][lead + len(inner):]
                repair = {"op": "set_foreign_keys", "value": value}
            kind = bad[0][0]
            person = kind == "fk_unknown_name"
            out.append(self._problem(r, kind, "foreign_keys=%r: %s" % (fk["source"], "; ".join(m for _, m in bad)), needs_person=person and repair is None, repair=repair, foreign_keys=fk["source"]))
        else:
            bound = module_bindings(r.src)
            body_names = set(r.cls.attrs.keys())
            for base, attr, node in fk_refs(fk["expr"]):
                name = base if base is not None else attr
                if name in bound or name in body_names or name in dir(__builtins__):
                    continue
                if base is not None and base in self.by_name:
                    out.append(self._problem(r, "fk_name_undefined", "foreign_keys=%s uses %s, which is not defined in %s (NameError at import)" % (fk["source"], base, r.src.rel), repair={"op": "set_foreign_keys", "value": fk["source"], "stringify": True}, foreign_keys=fk["source"]))
                else:
                    out.append(self._problem(r, "fk_name_undefined", "foreign_keys=%s uses undefined name %s" % (fk["source"], name), needs_person=True, foreign_keys=fk["source"]))
                break
        return out

    def _fk_candidates(self, r, tc, cls):
        other = tc if cls is r.cls else r.cls
        if other.tablename is None:
            return []
        return sorted(k for k, tables in cls.columns_fk.items() if other.tablename in tables)


def import_nodes(body):
    """Every import statement that can run (module level, blocks, function bodies), not under TYPE_CHECKING."""
    for st in body:
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            yield st
        elif isinstance(st, ast.If) and is_type_checking(st.test):
            yield from import_nodes(st.orelse)
        else:
            for field in ("body", "orelse", "finalbody"):
                block = getattr(st, field, None)
                if isinstance(block, list):
                    yield from import_nodes(block)
            for h in getattr(st, "handlers", []) or []:
                yield from import_nodes(h.body)


def module_bindings(src):
    names = set()
    if src.tree is None:
        return names
    for st in src.tree.body:
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            for a in st.names:
                names.add(a.asname or a.name.split(".")[0])
        elif isinstance(st, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(st.name)
        elif isinstance(st, ast.Assign):
            for t in st.targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
        elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
            names.add(st.target.id)
    return names


# ----------------------------------------------------------------------------------------------------------
# Edits


class Edits:
    """Non-overlapping text replacements per file, applied from the end so offsets stay valid."""

    def __init__(self, pkg):
        self.pkg = pkg
        self.by_file = {}
        self.notes = []
        self.commented = {}  # rel -> [(first line, last line)] of statements commented out

    def add(self, rel, start, end, text, note=None):
        lst = self.by_file.setdefault(rel, [])
        for i, (a, b, t) in enumerate(lst):
            if (a, b, t) == (start, end, text):
                return
            if start == end == a == b:
                lst[i] = (a, b, t + text)  # two insertions at one point: keep the order they were made
                if note:
                    self.notes.append(dict(note, path=rel))
                return
            if start < b and a < end:
                raise ToolError("edit_conflict", "overlapping edits in %s at %d" % (rel, start))
        lst.append((start, end, text))
        if note:
            self.notes.append(dict(note, path=rel))

    def result(self):
        out = {}
        for rel, lst in self.by_file.items():
            text = self.pkg.sources[rel].text
            for (a, b, t) in sorted(lst, key=lambda x: (x[0], x[1]), reverse=True):
                text = text[:a] + t + text[b:]
            out[rel] = text
        return out


def comment_out(edits, src, stmt, header_lines, note):
    if not owns_lines(src, stmt):
        raise ToolError("shared_line", "%s:%d: the statement shares its line with other code; cannot comment it out safely" % (src.rel, stmt.lineno))
    indent = src.indent_of(stmt.lineno)
    start = src.line_start(stmt.lineno)
    end = src.line_end(stmt.end_lineno)
    body = []
    for ln in range(stmt.lineno, stmt.end_lineno + 1):
        line = src.lines[ln - 1].rstrip("\r\n")
        if line.startswith(indent):
            body.append(indent + "# " + line[len(indent):])
        else:
            body.append(indent + "# " + line.lstrip())
    nl = "\r\n" if src.lines[stmt.end_lineno - 1].endswith("\r\n") else "\n"
    if src.only_statement(stmt):
        body.append(indent + "pass")
    text = "".join(indent + "# " + h + nl for h in header_lines) + nl.join(body) + nl
    if not src.lines[stmt.end_lineno - 1].endswith(("\n", "\r")):
        text = text[: -len(nl)]
    edits.add(src.rel, start, end, text, note)
    edits.commented.setdefault(src.rel, []).append((stmt.lineno, stmt.end_lineno))


def remove_keyword(edits, src, call, kwname, comment, note):
    """Delete one keyword argument from a call (with its comma), and put a TODO line above the statement."""
    kws = [k for k in call.keywords]
    args = list(call.args) + kws
    k = next(x for x in kws if x.arg == kwname)
    idx = args.index(k)
    ks, ke = src.node_span(k)
    if idx > 0:
        prev = args[idx - 1]
        ps, pe = src.node_span(prev)
        start, end = pe, ke  # ", kw=..." from the end of the previous argument
    elif len(args) > 1:
        nxt = args[1]
        ns, ne = src.node_span(nxt)
        start, end = ks, ns
    else:
        start, end = ks, ke
    edits.add(src.rel, start, end, "", note)
    return comment


def insert_line_before(edits, src, line, text):
    pos = src.line_start(line)
    edits.add(src.rel, pos, pos, text)


class Fixer:
    def __init__(self, pkg, model):
        self.pkg = pkg
        self.m = model
        self.edits = Edits(pkg)
        self.renames = []
        self.new_files = {}
        self.summary = []
        self.stmt_notes = {}  # (rel, line) -> list of header lines already inserted

    # -- A ------------------------------------------------------------------------------------------------
    def fix_a(self, problems, reason_for=None):
        broken = {}
        for p in problems:
            broken.setdefault((p["class"], p["attr"], p["path"]), []).append(p)
        if not broken:
            raise ToolError("nothing_to_fix", "no broken relationship to comment out")
        rels = {(r.cls.name, r.attr, r.src.rel): r for r in self.m.rels()}
        commented = set()
        for key, probs in sorted(broken.items(), key=lambda kv: (kv[0][2], rels[kv[0]].stmt.lineno if kv[0] in rels else 0)):
            r = rels.get(key)
            if r is None:
                raise ToolError("not_found", "relationship %s.%s not found" % (key[0], key[1]))
            header = reason_for(r, probs) if reason_for else self.reason_a(r, probs)
            comment_out(self.edits, r.src, r.stmt, header, {"op": "comment_out", "class": r.cls.name, "attr": r.attr, "line": r.stmt.lineno, "why": header[0]})
            commented.add((r.cls.name, r.attr))
            # a mixin's relationship disappears from every mapped class that inherits it: say so, class by class
            for mc in sorted(r.mapped_as or ()):
                self.edits.notes.append({"op": "comment_out", "class": mc, "attr": r.attr, "line": r.stmt.lineno, "why": header[0], "via": r.cls.name, "path": r.src.rel})
            self.summary.append("commented out %s.%s (%s)%s" % (r.cls.name, r.attr, ", ".join(p["kind"] for p in probs), " — inherited by %s" % ", ".join(sorted(r.mapped_as)) if r.mapped_as else ""))
        self.mend_counterparts(commented)
        return commented

    def reason_a(self, r, probs):
        kinds = {p["kind"] for p in probs}
        t = r.target
        if "missing_class" in kinds:
            return ["TEMPORARY: Commented out - %s model doesn't exist yet" % t, "TODO: Implement %s model before uncommenting" % t]
        if "not_imported" in kinds:
            where = next(p.get("defined_in") for p in probs if p["kind"] == "not_imported")
            return ["TEMPORARY: Commented out - %s (%s) is not imported by the models package" % (t, where), "TODO: Import %s in the models package's __init__.py before uncommenting" % t]
        if kinds & {"backpop_missing", "backpop_wrong_class", "backpop_not_relationship"}:
            bp = next(p.get("back_populates") for p in probs if p["kind"].startswith("backpop"))
            return ["TEMPORARY: Commented out - back_populates=%r does not match a relationship on %s pointing back" % (bp, t), "TODO: Add or fix %s.%s (back_populates=%r) before uncommenting" % (t, bp, r.attr)]
        if kinds & {"fk_table_string", "fk_unknown_attr", "fk_unknown_name", "fk_unparseable", "fk_name_undefined"}:
            return ["TEMPORARY: Commented out - foreign_keys=%s does not resolve to a mapped column" % (r.fk["source"] if r.fk else "?"), "TODO: Fix foreign_keys (e.g. \"Class.column\") before uncommenting"]
        p = probs[0]
        if kinds & {"misspelled_class", "stale_module_path"}:
            return ["TEMPORARY: Commented out - %s does not name a model class" % (p.get("target_string") or t), "TODO: Point it at the right class before uncommenting"]
        if kinds & {"secondary_missing", "secondary_undefined"}:
            return ["TEMPORARY: Commented out - secondary=%s names a table that does not exist" % p.get("secondary"), "TODO: Define the association table before uncommenting"]
        if kinds & {"expr_unknown_attr", "expr_unknown_name"}:
            return ["TEMPORARY: Commented out - %s=%r names what the models do not have" % (p.get("argument"), p.get("expression")), "TODO: Fix the expression before uncommenting"]
        if "ambiguous_foreign_keys" in kinds:
            return ["TEMPORARY: Commented out - several foreign key paths to %s (%s)" % (t, ", ".join(p.get("paths") or [])), "TODO: Add foreign_keys=[...] naming the right column before uncommenting"]
        if "no_foreign_keys" in kinds:
            return ["TEMPORARY: Commented out - no foreign key links %s and %s" % (r.cls.name, t), "TODO: Add a ForeignKey (or primaryjoin) before uncommenting"]
        return ["TEMPORARY: Commented out - broken relationship (%s)" % ", ".join(sorted(kinds)), "TODO: Fix before uncommenting"]

    def mend_counterparts(self, commented, disabled_classes=()):
        """Relationships whose back_populates names a commented-out one lose that keyword (else they break)."""
        for r in self.m.rels():
            if (r.cls.name, r.attr) in commented or r.cls.name in disabled_classes:
                continue
            if r.back_populates is None or r.target is None:
                continue
            if (r.target, r.back_populates) in commented:
                header = "TODO: restore back_populates=%r when %s.%s is re-enabled" % (r.back_populates, r.target, r.back_populates)
                indent = r.src.indent_of(r.stmt.lineno)
                remove_keyword(self.edits, r.src, r.call, "back_populates", header, {"op": "remove_back_populates", "class": r.cls.name, "attr": r.attr, "line": r.stmt.lineno})
                nl = "\r\n" if r.src.lines[r.stmt.lineno - 1].endswith("\r\n") else "\n"
                insert_line_before(self.edits, r.src, r.stmt.lineno, indent + "# " + header + nl)
                self.summary.append("removed back_populates from %s.%s (its counterpart is commented out)" % (r.cls.name, r.attr))

    # -- B ------------------------------------------------------------------------------------------------
    def fix_b(self, model_name, reason):
        cands = [c for c in self.m.by_name.get(model_name, []) if self.m.active(c)] or self.m.by_name.get(model_name, [])
        if len(cands) != 1:
            raise ToolError("not_found", "model %s is %s in the models package" % (model_name, "not defined" if not cands else "defined more than once"))
        target = cands[0]
        rel = target.src.rel
        if rel == self.pkg.init_rel:
            raise ToolError("not_supported", "%s is defined in the package __init__.py; disabling the whole package is not a fix" % model_name)
        disabled_mod = target.module
        disabled = sorted(c.name for c in self.m.classes if c.src.rel == rel)
        new_rel = rel + ".disabled"
        self.renames.append((rel, new_rel))
        note = (
            "# TODO: Re-enable when dependencies implemented\n"
            "# Disabled by runwright: %s\n"
            "# Why: %s\n"
            "# Classes disabled: %s\n"
            "# To re-enable: git mv %s %s, restore its imports and the relationships marked TODO that point at it.\n"
            % (os.path.basename(rel), reason, ", ".join(disabled), new_rel, rel)
        )
        self.new_files[new_rel + ".txt"] = note
        self.summary.append("disabled %s (%s) as %s" % (rel, ", ".join(disabled), new_rel))
        # imports of the disabled module (or of its classes through any module) in every other module
        for orel, src in sorted(self.pkg.sources.items()):
            if orel == rel or src.tree is None:
                continue
            mod = self.pkg.module_of[orel]
            is_pkg = orel.endswith("__init__.py")
            for node in import_nodes(src.tree.body):
                if isinstance(node, ast.ImportFrom):
                    base = resolve_from(mod, is_pkg, node)
                    if base == disabled_mod:
                        drop = [a for a in node.names]
                    else:
                        drop = [a for a in node.names if (base + "." + a.name) == disabled_mod or (a.name in disabled and base in (self.pkg.import_name,) + tuple(self.pkg.modules.keys()))]
                    if not drop:
                        continue
                    self._drop_import(src, node, drop, rel)
                elif isinstance(node, ast.Import):
                    drop = [a for a in node.names if a.name == disabled_mod or a.name.startswith(disabled_mod + ".")]
                    if drop:
                        self._drop_import(src, node, drop, rel)
            self._drop_from_all(src, disabled)
        # relationships elsewhere that point at the disabled classes would now fail: comment them out
        pointing = {}
        for r in self.m.rels(only_active=False):
            if r.src.rel == rel or r.target not in disabled:
                continue
            pointing[(r.cls.name, r.attr, r.src.rel)] = [{"kind": "points_at_disabled", "class": r.cls.name, "attr": r.attr, "path": r.src.rel}]
        commented = set()
        rels = {(r.cls.name, r.attr, r.src.rel): r for r in self.m.rels(only_active=False)}
        for key, probs in sorted(pointing.items()):
            r = rels[key]
            header = ["TEMPORARY: Commented out - %s model is disabled (%s)" % (r.target, os.path.basename(new_rel)), "TODO: Uncomment when %s is re-enabled" % r.target]
            comment_out(self.edits, r.src, r.stmt, header, {"op": "comment_out", "class": r.cls.name, "attr": r.attr, "line": r.stmt.lineno, "why": header[0]})
            commented.add((r.cls.name, r.attr))
            self.summary.append("commented out %s.%s (points at disabled %s)" % (r.cls.name, r.attr, r.target))
        self.mend_counterparts(commented, disabled_classes=set(disabled))
        leftovers = self._leftover_uses(rel, disabled)
        return {"disabled": disabled, "file": rel, "renamed_to": new_rel, "leftover_uses": leftovers}

    def _drop_import(self, src, node, drop, disabled_rel):
        nl = "\r\n" if src.lines[node.lineno - 1].endswith("\r\n") else "\n"
        if len(drop) == len(node.names):
            header = ["TEMPORARY: %s is disabled (%s.disabled)" % (os.path.basename(disabled_rel), os.path.basename(disabled_rel)), "TODO: restore this import when it is re-enabled"]
            comment_out(self.edits, src, node, header, {"op": "comment_out_import", "line": node.lineno})
            self.summary.append("commented out import in %s:%d" % (src.rel, node.lineno))
            return
        # keep the other names: rewrite the alias list only
        keep = [a for a in node.names if a not in drop]
        first, last = node.names[0], node.names[-1]
        if not hasattr(first, "lineno"):
            raise ToolError("not_supported", "Python too old to edit import aliases precisely")
        a0 = src.offset(first.lineno, first.col_offset)
        a1 = src.offset(last.end_lineno, last.end_col_offset)
        text = ", ".join(src.seg(a) for a in keep)
        self.edits.add(src.rel, a0, a1, text, {"op": "edit_import", "line": node.lineno, "removed": [a.name for a in drop]})
        indent = src.indent_of(node.lineno)
        insert_line_before(self.edits, src, node.lineno, indent + "# TODO: restore %s here when %s is re-enabled%s" % (", ".join(a.name for a in drop), os.path.basename(disabled_rel), nl))
        self.summary.append("removed %s from an import in %s:%d" % (", ".join(a.name for a in drop), src.rel, node.lineno))

    def _drop_from_all(self, src, names):
        for st in src.tree.body:
            if isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in st.targets) and isinstance(st.value, (ast.List, ast.Tuple)):
                elts = st.value.elts
                for i, e in enumerate(elts):
                    if isinstance(e, ast.Constant) and e.value in names:
                        s, t = src.node_span(e)
                        if i + 1 < len(elts):
                            t = src.node_span(elts[i + 1])[0]
                        elif i > 0:
                            s = src.node_span(elts[i - 1])[1]
                        self.edits.add(src.rel, s, t, "", {"op": "edit___all__", "removed": e.value})

    def _leftover_uses(self, rel, disabled):
        """Uses of a disabled class left in code that still runs (not in what this fix comments out)."""
        out = []
        for orel, src in self.pkg.sources.items():
            if orel == rel or src.tree is None:
                continue
            gone = self.edits.commented.get(orel, [])
            for node in ast.walk(src.tree):
                if isinstance(node, ast.Name) and node.id in disabled and not any(a <= node.lineno <= b for a, b in gone):
                    out.append({"path": orel, "line": node.lineno, "name": node.id})
        return out

    # -- C ------------------------------------------------------------------------------------------------
    def fix_c(self, problems):
        if not problems:
            raise ToolError("nothing_to_fix", "no problem to repair")
        missing = [p for p in problems if not p.get("repair")]
        if missing:
            raise ToolError("no_repair", "no mechanical repair for: " + "; ".join("%s.%s %s" % (p["class"], p["attr"], p["kind"]) for p in missing), [p["id"] for p in missing])
        rels = {(r.cls.name, r.attr, r.src.rel): r for r in self.m.rels()}
        done = set()
        for p in problems:
            rp = p["repair"]
            r = rels[(p["class"], p["attr"], p["path"])]
            op = rp["op"]
            if op == "set_back_populates":
                k = r.kw["back_populates"]
                s, e = r.src.node_span(k.value)
                self.edits.add(r.src.rel, s, e, quote_like(r.src.seg(k.value), rp["value"]), {"op": op, "class": r.cls.name, "attr": r.attr, "from": r.back_populates, "to": rp["value"]})
                self.summary.append("%s.%s: back_populates %r -> %r" % (r.cls.name, r.attr, r.back_populates, rp["value"]))
            elif op == "set_foreign_keys":
                k = r.kw["foreign_keys"]
                s, e = r.src.node_span(k.value)
                new = quote_like(r.src.seg(k.value) if not rp.get("stringify") else '"', rp["value"])
                self.edits.add(r.src.rel, s, e, new, {"op": op, "class": r.cls.name, "attr": r.attr, "from": r.fk["source"], "to": rp["value"]})
                self.summary.append("%s.%s: foreign_keys %s -> %s" % (r.cls.name, r.attr, r.fk["source"] if r.fk["kind"] == "expr" else repr(r.fk["source"]), new))
            elif op == "add_counterpart":
                key = (rp["class"], rp["attr"])
                if key in done:
                    continue
                done.add(key)
                self._add_counterpart(rp)
            elif op == "add_import":
                key = ("import", rp["module"], rp["name"])
                if key in done:
                    continue
                done.add(key)
                self._add_import(rp)
            elif op == "rename_target":
                self._rename_target(r, rp["from"], rp["to"])
                self.summary.append("%s.%s: target %r -> %r" % (r.cls.name, r.attr, rp["from"], rp["to"]))
                self.edits.notes.append({"op": op, "class": r.cls.name, "attr": r.attr, "from": rp["from"], "to": rp["to"], "path": r.src.rel})
            elif op == "set_secondary":
                node = r.secondary["node"]
                s0, e0 = r.src.node_span(node)
                self.edits.add(r.src.rel, s0, e0, quote_like(r.src.seg(node), rp["value"]), {"op": op, "class": r.cls.name, "attr": r.attr, "from": r.secondary["name"], "to": rp["value"]})
                self.summary.append("%s.%s: secondary %r -> %r" % (r.cls.name, r.attr, r.secondary["name"], rp["value"]))
            elif op == "set_expr":
                node = r.exprs[rp["argument"]]["node"]
                s0, e0 = r.src.node_span(node)
                self.edits.add(r.src.rel, s0, e0, quote_like(r.src.seg(node), rp["value"]), {"op": op, "class": r.cls.name, "attr": r.attr, "argument": rp["argument"], "from": node.value, "to": rp["value"]})
                self.summary.append("%s.%s: %s %r -> %r" % (r.cls.name, r.attr, rp["argument"], node.value, rp["value"]))
            elif op == "add_foreign_keys":
                self._add_keyword(r, "foreign_keys", quote_like('"', rp["value"]))
                self.summary.append("%s.%s: foreign_keys=%r (the one foreign key path named after the relationship)" % (r.cls.name, r.attr, rp["value"]))
            else:
                raise ToolError("no_repair", "unknown repair %s" % op)

    def _rename_target(self, r, old, new):
        node = r.target_node
        if node is None:
            raise ToolError("no_repair", "%s.%s: no literal target to rename" % (r.cls.name, r.attr))
        word = re.compile(r"(?<![\w.])" + re.escape(old) + r"(?![\w])")
        hits = 0
        for n in ast.walk(node):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and word.search(n.value):
                s0, e0 = r.src.node_span(n)
                self.edits.add(r.src.rel, s0, e0, quote_like(r.src.seg(n), word.sub(new, n.value)))
                hits += 1
            elif isinstance(n, ast.Name) and n.id == old:
                s0, e0 = r.src.node_span(n)
                self.edits.add(r.src.rel, s0, e0, new)
                hits += 1
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and "." in old and n.value.strip() == old:
                s0, e0 = r.src.node_span(n)
                self.edits.add(r.src.rel, s0, e0, quote_like(r.src.seg(n), new))
                hits += 1
        if not hits:
            raise ToolError("no_repair", "%s.%s: %s not found in the target" % (r.cls.name, r.attr, old))

    def _add_keyword(self, r, name, value_src):
        call = r.call
        args = list(call.args) + list(call.keywords)
        if args:
            pos = max(r.src.node_span(a)[1] for a in args)
            text = ", %s=%s" % (name, value_src)
        else:
            pos = r.src.node_span(call)[1] - 1  # just before ")"
            text = "%s=%s" % (name, value_src)
        self.edits.add(r.src.rel, pos, pos, text, {"op": "add_keyword", "class": r.cls.name, "attr": r.attr, "keyword": name, "value": value_src})

    def _add_counterpart(self, rp):
        tc = self.m.active_class(rp["class"])
        if tc is None:
            raise ToolError("not_found", "class %s not found" % rp["class"])
        src = tc.src
        callee = None
        for r in tc.rels:
            callee = src.seg(r.call.func)
            break
        if callee is None:
            aliases = relationship_aliases(src)
            bound = module_bindings(src)
            callee = next((a for a in sorted(aliases) if a in bound), None)
            if callee is None:
                for prefix in ("orm", "db", "sa.orm"):
                    if prefix.split(".")[0] in bound:
                        callee = prefix + ".relationship"
                        break
            if callee is None:
                self._insert_after_imports(src, "from sqlalchemy.orm import relationship", {"op": "add_import", "line_text": "from sqlalchemy.orm import relationship"})
                callee = "relationship"
        last = tc.node.body[-1]
        indent = src.indent_of(tc.node.body[0].lineno)
        nl = "\r\n" if src.lines[last.end_lineno - 1].endswith("\r\n") else "\n"
        pos = src.line_end(last.end_lineno)
        prefix = "" if src.text[:pos].endswith(("\n", "\r")) else nl
        line = '%s%s = %s("%s", back_populates="%s")%s' % (indent, rp["attr"], callee, rp["target"], rp["back_populates"], nl)
        self.edits.add(src.rel, pos, pos, prefix + line, {"op": "add_counterpart", "class": tc.name, "attr": rp["attr"], "target": rp["target"]})
        self.summary.append("added %s.%s = relationship(%r, back_populates=%r)" % (tc.name, rp["attr"], rp["target"], rp["back_populates"]))

    def _insert_after_imports(self, src, line, note=None):
        last = None
        for st in src.tree.body:
            if isinstance(st, (ast.Import, ast.ImportFrom)):
                last = st
            elif last is not None or not (isinstance(st, ast.Expr) and isinstance(getattr(st, "value", None), ast.Constant)):
                if last is not None:
                    break
        nl = "\n"
        if last is None:
            pos = 0
            if src.tree.body and isinstance(src.tree.body[0], ast.Expr) and isinstance(src.tree.body[0].value, ast.Constant):
                pos = src.line_end(src.tree.body[0].end_lineno)
        else:
            pos = src.line_end(last.end_lineno)
        prefix = "" if pos == 0 or src.text[:pos].endswith("\n") else nl
        self.edits.add(src.rel, pos, pos, prefix + line + nl, note)

    def _add_import(self, rp):
        init = self.pkg.init_rel
        if init is None:
            raise ToolError("not_found", "the models package has no __init__.py")
        src = self.pkg.sources[init]
        style_relative = any(isinstance(st, ast.ImportFrom) and st.level > 0 for st in src.tree.body)
        mod = rp["module"]
        if style_relative:
            line = "from .%s import %s" % (mod[len(self.pkg.import_name) + 1:], rp["name"])
        else:
            line = "from %s import %s" % (mod, rp["name"])
        self._insert_after_imports(src, line, {"op": "add_import", "line_text": line, "name": rp["name"], "module": mod})
        self.summary.append("imported %s from %s in %s" % (rp["name"], mod, init))
        for st in src.tree.body:
            if isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in st.targets) and isinstance(st.value, (ast.List, ast.Tuple)):
                elts = st.value.elts
                if any(isinstance(e, ast.Constant) and e.value == rp["name"] for e in elts):
                    continue
                if elts:
                    lastel = elts[-1]
                    pos = src.node_span(lastel)[1]
                    self.edits.add(init, pos, pos, ", " + quote_like(src.seg(lastel), rp["name"]), {"op": "edit___all__", "added": rp["name"]})
                else:
                    s, e = src.node_span(st.value)
                    self.edits.add(init, s + 1, s + 1, quote_like('"', rp["name"]))

    # -- apply --------------------------------------------------------------------------------------------
    def apply(self, dry_run):
        texts = self.edits.result()
        touched = set()
        # verify: every edited file must still parse
        for rel, text in texts.items():
            try:
                ast.parse(text, filename=rel)
            except SyntaxError as e:
                raise ToolError("edit_broke_syntax", "the edit would break %s: %s (line %s)" % (rel, e.msg, e.lineno))
        renamed_from = {a for a, _ in self.renames}
        for rel in texts:
            if rel in renamed_from:
                raise ToolError("edit_conflict", "%s is both edited and renamed" % rel)
        if not dry_run:
            for rel, text in texts.items():
                self.pkg.write(rel, text, bom=self.pkg.sources[rel].bom)
            for a, b in self.renames:
                self.pkg.rename(a, b)
            for rel, text in self.new_files.items():
                check_rel(rel)
                full = os.path.join(self.pkg.root, rel)
                if os.path.lexists(full):
                    raise ToolError("exists", "%s already exists" % rel)
                self.pkg.write(rel, text)
        touched.update(texts.keys())
        for a, b in self.renames:
            touched.update([a, b])
        touched.update(self.new_files.keys())
        return sorted(touched)


# ----------------------------------------------------------------------------------------------------------
# Commands


def analyze(req):
    pkg = Package(req["root"], req["models_dir"])
    m = Model(pkg)
    probs = m.problems()
    return {
        "package": {"dir": pkg.models_rel, "import_name": pkg.import_name, "init": pkg.init_rel},
        "modules": [
            {
                "path": rel,
                "module": pkg.module_of[rel],
                "imported": pkg.module_of[rel] in m.reachable,
                "syntax_error": src.error,
                "imports": sorted({x for imp in module_imports(pkg, rel) for x in imp.modules if x in pkg.modules}),
            }
            for rel, src in sorted(pkg.sources.items())
        ],
        "skipped": pkg.skipped,
        "classes": [c.to_json(m.active(c)) for c in m.classes],
        "relationships": m.verdicts(),
        "problems": probs,
    }


def fix(req):
    pkg = Package(req["root"], req["models_dir"])
    m = Model(pkg)
    probs = m.problems()
    kind = req.get("fix")
    fx = Fixer(pkg, m)
    extra = {}
    if kind == "A":
        # Comment out what only a person can mend; a relationship whose every problem has a mechanical repair
        # is repaired instead (commenting it out would remove a relationship that can be kept). When every
        # problem is repairable, A stays what was asked for: comment out all.
        per_rel = {}
        for p in probs:
            per_rel.setdefault((p["class"], p["attr"], p["path"]), []).append(p)
        repairable = [p for ps in per_rel.values() if all(x.get("repair") and not x.get("needs_person") for x in ps) for p in ps]
        rest = [p for p in probs if p not in repairable]
        if repairable and rest:
            fx.fix_c(repairable)
            fx.fix_a(rest)
        else:
            fx.fix_a(probs)
    elif kind == "B":
        if not probs:
            raise ToolError("nothing_to_fix", "no broken relationship found in the models package: disabling a model would be a guess")
        model = req.get("model")
        if not model:
            owners = sorted({p["class"] for p in probs})
            if len(owners) != 1:
                raise ToolError("no_model", "fix B needs the model to disable (problems are in: %s)" % ", ".join(owners))
            model = owners[0]
        if not (isinstance(model, str) and model.isidentifier()):
            raise ToolError("bad_request", "model must be a Python identifier")
        extra = fx.fix_b(model, req.get("reason") or "mapper initialisation fails for %s" % model)
        # broken relationships in other (still enabled) models must go too, or the package still fails
        disabled = set(extra["disabled"])
        rest = [p for p in probs if p["class"] not in disabled and p["target"] not in disabled]
        if rest:
            fx.fix_a(rest)
    elif kind == "C":
        fx.fix_c(probs)
    else:
        raise ToolError("bad_request", "fix must be A, B or C")
    dry = bool(req.get("dry_run"))
    touched = fx.apply(dry)
    out = {"fix": kind, "dry_run": dry, "touched": touched, "edits": fx.edits.notes, "summary": fx.summary, "renamed": [list(x) for x in fx.renames], "problems": probs}
    out.update(extra)
    return out


def answer_one(req):
    """One request's answer: the result with ok true, or {ok: false, error} for a refusal or an unreadable tree."""
    try:
        if not isinstance(req, dict) or not isinstance(req.get("root"), str) or not isinstance(req.get("models_dir"), str):
            raise ToolError("bad_request", "request needs root and models_dir")
        cmd = req.get("cmd")
        if cmd == "analyze":
            res = analyze(req)
        elif cmd == "fix":
            res = fix(req)
        else:
            raise ToolError("bad_request", "unknown cmd %r" % cmd)
        res["ok"] = True
        return res
    except ToolError as e:
        return {"ok": False, "error": {"code": e.code, "message": e.message, "details": e.details}}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return {"ok": False, "error": {"code": "io", "message": "%s: %s" % (type(e).__name__, e)}}


def main():
    try:
        req = json.loads(sys.stdin.read() or "{}")
    except ValueError as e:
        json.dump({"ok": False, "error": {"code": "io", "message": "%s: %s" % (type(e).__name__, e)}}, sys.stdout)
        return 2
    # {"cmd": "batch", "requests": [...]}: several independent requests (dry runs of each fix) in one process;
    # the answer is {"ok": true, "results": [answer, ...]}, one per request, in order.
    if isinstance(req, dict) and req.get("cmd") == "batch" and isinstance(req.get("requests"), list):
        json.dump({"ok": True, "results": [answer_one(r) for r in req["requests"]]}, sys.stdout)
        return 0
    out = answer_one(req)
    json.dump(out, sys.stdout)
    return 0 if out.get("ok") else 2


if __name__ == "__main__":
    sys.exit(main())
