#!/usr/bin/env python3
"""runwright's Alembic helper, run as a subprocess (never imported by Node).

Usage: python3 alembic_tool.py COMMAND < request.json > result.json

One JSON request on stdin, one JSON result on stdout (exit 0), or {"error": ...} with exit 2 for a bad request.
Database URLs travel on stdin only (never in argv) and are never echoed back with their password.

Commands
  info            versions of Python / SQLAlchemy / Alembic and which drivers import here
  project         read alembic.ini (and pyproject.toml [tool.alembic]): script location, env.py, versions dirs
  reserved-scan   declarative classes with attributes the installed SQLAlchemy refuses or warns about (probed)
  reserved-fix    rename those attributes, keep the column name, update the uses that can be resolved
  env-fix         make alembic/env.py run migrations on a driver that fits its engine (sync or run_sync)
  imports-fix     import every model module where target_metadata is built
  model-tables    tables and column names the models declare (static)
  migration-ops   the operations of one migration file (static)
  migration-prune keep only the operations on given tables in a generated migration
  db-probe | db-create | db-drop | db-columns    SQLAlchemy against a server URL
  db-state        read-only: the alembic_version revision(s) and tables of a database

Analysis uses Python's own ast. Edits are byte-precise splices at node positions: nothing else in a file
changes. Project code is never imported or executed here.
"""
import ast
import importlib.util
import json
import os
import re
import sys
import configparser

MAPPED_CONSTRUCTS = {
    "Column", "mapped_column", "relationship", "relation", "column_property", "deferred", "synonym",
    "composite", "query_expression", "dynamic_loader", "association_proxy",  # all break on `metadata` (checked on 1.4 and 2.0)
}
COLUMN_CONSTRUCTS = {"Column", "mapped_column"}
COLUMN_WRAPPERS = {"deferred", "column_property"}
METADATA_API = {"create_all", "drop_all", "tables", "sorted_tables", "reflect", "bind", "schema",
                "naming_convention", "clear", "remove", "info"}
SKIP_DIRS = {".git", "__pycache__", "node_modules", "site-packages", ".tox", ".mypy_cache", ".pytest_cache",
             ".ruff_cache", "build", "dist", ".eggs"}
QUERY_PASSTHROUGH = {"filter", "filter_by", "where", "order_by", "limit", "offset", "options", "join", "outerjoin",
                     "distinct", "unique", "execution_options", "with_for_update", "params", "group_by", "having",
                     "populate_existing", "yield_per", "enable_eagerloads", "select_from"}
QUERY_SCALAR = {"first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "get",
                "first_or_404", "one_or_404", "get_or_404"}
QUERY_LIST = {"all", "fetchall"}
LIST_ANNOTATIONS = {"List", "list", "Sequence", "Iterable", "Set", "set", "Collection", "Iterator",
                    "FrozenSet", "frozenset", "MutableSequence", "WriteOnlyMapped", "DynamicMapped"}
WRAP_ANNOTATIONS = {"Optional", "Mapped", "Final", "Annotated"}


class RequestError(Exception):
    pass


# ----------------------------------------------------------------------------------------------------------
# Sources and byte-precise edits


class Source:
    """A parsed Python file; node positions map to byte offsets (ast columns are UTF-8 byte offsets)."""

    def __init__(self, path, rel):
        self.path = path
        self.rel = rel
        with open(path, "rb") as f:
            self.data = f.read()
        self.data.decode("utf-8")  # raises for non-UTF-8 files: we do not edit those
        self.tree = ast.parse(self.data, filename=rel)
        self.line_starts = [0]
        for i, b in enumerate(self.data):
            if b == 10:
                self.line_starts.append(i + 1)
        self.edits = []  # (start, end, bytes, note)
        self.parents = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def off(self, lineno, col):
        return self.line_starts[lineno - 1] + col

    def span(self, node):
        return self.off(node.lineno, node.col_offset), self.off(node.end_lineno, node.end_col_offset)

    def text(self, node):
        s, e = self.span(node)
        return self.data[s:e].decode("utf-8")

    def line_text(self, lineno):
        s = self.line_starts[lineno - 1]
        e = self.line_starts[lineno] if lineno < len(self.line_starts) else len(self.data)
        return self.data[s:e].decode("utf-8").rstrip("\r\n")

    def edit(self, start, end, text, note):
        b = text.encode("utf-8")
        for (s, e, t, _n) in self.edits:
            if s == start and e == end and t == b:
                return  # the same edit reached twice
            if start < e and s < end or (start == end == s and t != b):
                raise RequestError(f"{self.rel}: overlapping edits at byte {start}")
        self.edits.append((start, end, b, note))

    def replace(self, node, text, note):
        s, e = self.span(node)
        self.edit(s, e, text, note)

    def insert(self, offset, text, note):
        self.edits.append((offset, offset, text.encode("utf-8"), note))

    def result(self):
        out = self.data
        for (s, e, t, _n) in sorted(self.edits, key=lambda x: (x[0], x[1]), reverse=True):
            out = out[:s] + t + out[e:]
        return out


def write_sources(sources, apply):
    """Apply edits (after re-parsing the result) and return [{file, edits}] for the changed files."""
    changed = []
    for src in sources:
        if not src.edits:
            continue
        new = src.result()
        try:
            ast.parse(new, filename=src.rel)
        except SyntaxError as e:  # a bug in our edits: never write a broken file
            raise RequestError(f"{src.rel}: edits would break the syntax: {e}")
        notes = []
        for (s, _e, _t, n) in sorted(src.edits, key=lambda x: x[0]):
            line = src.data.count(b"\n", 0, s) + 1
            notes.append({"line": line, "change": n})
        if apply:
            tmp = src.path + ".runwright-tmp"
            with open(tmp, "wb") as f:
                f.write(new)
            os.replace(tmp, src.path)
        changed.append({"file": src.rel, "edits": notes})
    return changed


def walk_py(root, exclude_rel=()):
    """Every .py file under root (no symlinks followed, no virtualenvs, no hidden or excluded dirs)."""
    root = os.path.realpath(root)
    excl = {os.path.normpath(x) for x in exclude_rel}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            rel = os.path.normpath(os.path.join(rel_dir, d))
            if d.startswith(".") or d in SKIP_DIRS or rel in excl or os.path.islink(full):
                continue
            if os.path.exists(os.path.join(full, "pyvenv.cfg")):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            if f.endswith(".py") and not os.path.islink(full) and os.path.isfile(full):
                yield full, os.path.normpath(os.path.join(rel_dir, f))


def load_sources(root, exclude_rel=()):
    sources, skipped = [], []
    for full, rel in walk_py(root, exclude_rel):
        try:
            sources.append(Source(full, rel))
        except (SyntaxError, UnicodeDecodeError, ValueError) as e:
            skipped.append({"file": rel, "reason": f"{type(e).__name__}: {e}"})
    return sources, skipped


def module_name(rel, roots=()):
    """The dotted module name of a project-relative .py path; with `roots` (project-relative sys.path entries from
    alembic.ini's prepend_sys_path, deepest first) relative to the root that holds it, as Python will import it."""
    for r in roots:
        r = os.path.normpath(r)
        if r not in (".", "") and rel.startswith(r + os.sep):
            rel = rel[len(r) + 1:]
            break
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def terminal(expr):
    """The last name of a dotted expression: sa.orm.mapped_column -> mapped_column."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def str_const(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def sa_version():
    for dist in ("sqlalchemy", "SQLAlchemy"):
        try:
            from importlib.metadata import version
            return version(dist)
        except Exception:
            continue
    return None


def has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------------------
# The project model: modules, classes, functions


class ClassInfo:
    def __init__(self, src, node, module):
        self.src = src
        self.node = node
        self.name = node.name
        self.module = module
        self.bases = [terminal(b) for b in node.bases]
        self.tablename = None
        self.abstract = False
        self.attrs = {}  # name -> (stmt, value, annotation)
        self.is_base = False  # a declarative base itself (DeclarativeBase subclass, declarative_base())
        self.is_decl = False  # mapped (or abstract) declarative class
        self.is_mixin = False  # used as a base by a declarative class, not declarative itself
        self.mapped_by_decorator = False
        for stmt in node.body:
            targets, value, ann = [], None, None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                targets, value, ann = [stmt.target], stmt.value, stmt.annotation
            for t in targets:
                if isinstance(t, ast.Name):
                    self.attrs[t.id] = (stmt, value, ann)
                    if t.id == "__tablename__" and str_const(value):
                        self.tablename = str_const(value)
                    if t.id == "__abstract__" and isinstance(value, ast.Constant) and value.value is True:
                        self.abstract = True
        for d in node.decorator_list:
            f = d.func if isinstance(d, ast.Call) else d
            t = terminal(f)
            if t in ("mapped", "mapped_as_dataclass"):
                self.mapped_by_decorator = True
            if t == "as_declarative":
                self.is_base = True

    def mapped_value_kind(self, value, ann):
        """'column' | 'relationship' | 'other-mapped' | None for one class-level assignment."""
        if isinstance(value, ast.Call):
            t = terminal(value.func)
            if t in COLUMN_CONSTRUCTS:
                return "column"
            if t in COLUMN_WRAPPERS:
                inner = value.args[0] if value.args else None
                if isinstance(inner, ast.Call) and terminal(inner.func) in COLUMN_CONSTRUCTS:
                    return "column"
                return "other-mapped"
            if t in ("relationship", "relation", "dynamic_loader"):
                return "relationship"
            if t in MAPPED_CONSTRUCTS:
                return "other-mapped"
            return None
        if value is None and ann is not None and annotation_head(ann) in ("Mapped",):
            return "column" if not relationship_annotation(ann) else "annotation-only"
        return None


def annotation_head(ann):
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        try:
            ann = ast.parse(ann.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(ann, ast.Subscript):
        return terminal(ann.value)
    return terminal(ann)


def relationship_annotation(ann):
    # Mapped[List["X"]] with no value is not a column; we only treat plain Mapped[scalar] as a column.
    if isinstance(ann, ast.Subscript):
        inner = ann.slice
        if isinstance(inner, ast.Subscript) and terminal(inner.value) in LIST_ANNOTATIONS:
            return True
    return False


class Module:
    def __init__(self, src, name):
        self.src = src
        self.name = name
        self.is_package = src.rel.endswith("__init__.py")
        self.classes = {}
        self.functions = {}
        for stmt in src.tree.body:
            if isinstance(stmt, ast.ClassDef):
                self.classes[stmt.name] = stmt
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[stmt.name] = stmt

    def resolve_relative(self, level, mod):
        if level == 0:
            return mod or ""
        pkg = self.name.split(".") if self.is_package else self.name.split(".")[:-1]
        if level > 1:
            pkg = pkg[: len(pkg) - (level - 1)]
        base = ".".join(pkg)
        return f"{base}.{mod}" if mod and base else (mod or base)


class Project:
    def __init__(self, root, exclude_rel=(), roots=()):
        self.root = os.path.realpath(root)
        self.roots = sorted((os.path.normpath(r) for r in roots), key=len, reverse=True)
        self.sources, self.skipped = load_sources(self.root, exclude_rel)
        self.modules = {}
        for src in self.sources:
            name = module_name(src.rel, self.roots)
            self.modules[name] = Module(src, name)
        self.classes = []  # ClassInfo
        for mod in self.modules.values():
            for node in ast.walk(mod.src.tree):
                if isinstance(node, ast.ClassDef):
                    self.classes.append(ClassInfo(mod.src, node, mod.name))
        self.by_name = {}
        for c in self.classes:
            self.by_name.setdefault(c.name, []).append(c)
        self._find_declarative()

    def _find_declarative(self):
        base_names = set()
        # Flask-SQLAlchemy's `db = SQLAlchemy()`: db.metadata is the MetaData (never a model's attribute)
        self.flask_db_names = set()
        for mod in self.modules.values():
            for stmt in ast.walk(mod.src.tree):
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                    t = terminal(stmt.value.func)
                    if t in ("declarative_base", "generate_base"):
                        for tg in stmt.targets:
                            if isinstance(tg, ast.Name):
                                base_names.add(tg.id)
                    elif t == "SQLAlchemy":
                        for tg in stmt.targets:
                            if isinstance(tg, ast.Name):
                                self.flask_db_names.add(tg.id)
        for c in self.classes:
            if any(b in ("DeclarativeBase", "DeclarativeBaseNoMeta") for b in c.bases) or c.is_base:
                c.is_base = True
                base_names.add(c.name)
        decl = set(base_names)
        changed = True
        while changed:
            changed = False
            for c in self.classes:
                if c.is_decl or c.is_base:
                    continue
                if c.mapped_by_decorator or any(b in decl for b in c.bases) or c.tablename or "__table__" in c.attrs:
                    c.is_decl = True
                    decl.add(c.name)
                    changed = True
        self.base_names = base_names
        for c in self.classes:
            if c.is_decl:
                for b in c.bases:
                    for m in self.by_name.get(b, []):
                        if not m.is_decl and not m.is_base:
                            m.is_mixin = True

    def subclasses(self, cls):
        out, todo = {cls}, [cls]
        while todo:
            cur = todo.pop()
            for c in self.classes:
                if c not in out and cur.name in c.bases:
                    out.add(c)
                    todo.append(c)
        return out

    def resolve_module(self, name):
        return self.modules.get(name)


# ----------------------------------------------------------------------------------------------------------
# Types: a small, flow-insensitive inference good enough to say "this name is clearly a Tenant"


class Scope:
    def __init__(self, node, parent, module, owner_class=None):
        self.node = node
        self.parent = parent
        self.module = module
        self.owner_class = owner_class  # ClassInfo when node is a method
        self.bindings = {}  # name -> list of ('expr', expr) | ('iter', expr) | ('ann', ann) | ('type', t) | ('unknown', None)
        self.local_names = set()


class Types:
    def __init__(self, project):
        self.p = project
        self.scopes = {}  # module name -> {node: Scope}
        self.memo = {}

    # bindings ---------------------------------------------------------------------------------------
    def module_scope(self, mod):
        key = (mod.name, None)
        if key in self.scopes:
            return self.scopes[key]
        sc = Scope(mod.src.tree, None, mod)
        self._collect(sc, mod.src.tree.body, mod)
        self.scopes[key] = sc
        return sc

    def scope_for(self, mod, node, parent, owner):
        key = (mod.name, id(node))
        if key in self.scopes:
            return self.scopes[key]
        sc = Scope(node, parent, mod, owner)
        args = node.args
        params = list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs)
        is_static = any(terminal(d) == "staticmethod" for d in getattr(node, "decorator_list", []))
        for i, a in enumerate(params):
            if i == 0 and owner is not None and not is_static and a.arg in ("self", "cls"):
                sc.bindings.setdefault(a.arg, []).append(("type", ("inst", owner) if a.arg == "self" else ("class", owner)))
            elif a.annotation is not None:
                sc.bindings.setdefault(a.arg, []).append(("ann", a.annotation))
            else:
                sc.bindings.setdefault(a.arg, []).append(("unknown", None))
        for a in (args.vararg, args.kwarg):
            if a is not None:
                sc.bindings.setdefault(a.arg, []).append(("unknown", None))
        body = node.body if isinstance(node.body, list) else [ast.Expr(node.body)]
        self._collect(sc, body, mod)
        self.scopes[key] = sc
        return sc

    def _collect(self, sc, body, mod):
        def bind(target, kind, value):
            if isinstance(target, ast.Name):
                sc.bindings.setdefault(target.id, []).append((kind, value))
            elif isinstance(target, (ast.Tuple, ast.List)):
                for e in target.elts:
                    bind(e, "unknown", None)
            elif isinstance(target, ast.Starred):
                bind(target.value, "unknown", None)

        def visit(node):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if isinstance(node, ast.ClassDef):
                    sc.bindings.setdefault(node.name, []).append(("classdef", node))
                else:
                    sc.bindings.setdefault(node.name, []).append(("funcdef", node))
                return
            if isinstance(node, ast.Lambda):
                return
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    bind(t, "expr", node.value)
            elif isinstance(node, ast.AnnAssign):
                bind(node.target, "ann", node.annotation)
            elif isinstance(node, ast.AugAssign):
                pass  # keeps the type
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                bind(node.target, "iter", node.iter)
            elif isinstance(node, ast.comprehension):
                bind(node.target, "iter", node.iter)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        bind(item.optional_vars, "unknown", None)
            elif isinstance(node, ast.NamedExpr):
                bind(node.target, "expr", node.value)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                sc.bindings.setdefault(node.name, []).append(("unknown", None))
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for n in node.names:
                    sc.bindings.setdefault(n, []).append(("unknown", None))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        sc.bindings.setdefault(a.asname, []).append(("module", a.name))
                    else:
                        top = a.name.split(".")[0]
                        sc.bindings.setdefault(top, []).append(("module", top))
            elif isinstance(node, ast.ImportFrom):
                base = mod.resolve_relative(node.level, node.module)
                for a in node.names:
                    if a.name == "*":
                        continue
                    sc.bindings.setdefault(a.asname or a.name, []).append(("from", (base, a.name)))
            elif isinstance(node, ast.Delete):
                for t in node.targets:
                    bind(t, "unknown", None)
            elif hasattr(ast, "MatchAs") and isinstance(node, (ast.MatchAs, ast.MatchStar)) and getattr(node, "name", None):
                sc.bindings.setdefault(node.name, []).append(("unknown", None))
            for child in ast.iter_child_nodes(node):
                visit(child)

        for stmt in body:
            visit(stmt)

    # lookups ----------------------------------------------------------------------------------------
    def lookup(self, sc, name, depth=0):
        cur = sc
        while cur is not None:
            if name in cur.bindings:
                return self._binding_type(cur, name, depth)
            cur = cur.parent
        return None

    def _binding_type(self, sc, name, depth):
        key = ("b", sc.module.name, id(sc.node), name)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # cycle guard
        types = []
        for kind, value in sc.bindings[name]:
            if kind == "expr" and isinstance(value, ast.Constant) and value.value is None:
                continue  # x = None; x = session.get(Tenant, 1): still a Tenant (or None)
            t = self._binding_one(sc, kind, value, depth)
            types.append(t)
        result = None
        if types and all(t is not None for t in types) and all(t == types[0] for t in types):
            result = types[0]
        self.memo[key] = result
        return result

    def _binding_one(self, sc, kind, value, depth):
        if kind == "type":
            return value
        if kind == "expr":
            return self.expr_type(value, sc, depth + 1)
        if kind == "ann":
            return self.annotation_type(value, sc, depth + 1)
        if kind == "iter":
            t = self.expr_type(value, sc, depth + 1)
            if t and t[0] in ("list", "query"):
                return ("inst", t[1])
            return None
        if kind == "classdef":
            c = self.class_at(sc.module, value)
            return ("class", c) if c else None
        if kind == "funcdef":
            return ("func", (sc.module, value))
        if kind == "module":
            return ("module", value)
        if kind == "from":
            base, name = value
            return self.import_from(base, name, depth)
        return None

    def class_at(self, mod, node):
        for c in self.p.classes:
            if c.node is node:
                return c
        return None

    def import_from(self, base, name, depth=0):
        sub = f"{base}.{name}" if base else name
        if sub in self.p.modules:
            return ("module", sub)
        mod = self.p.modules.get(base)
        if mod is not None and depth < 8:
            if name in mod.classes:
                return ("class", self.class_at(mod, mod.classes[name]))
            if name in mod.functions:
                return ("func", (mod, mod.functions[name]))
            ms = self.module_scope(mod)
            if name in ms.bindings:
                return self._binding_type(ms, name, depth + 1)
            return None
        cands = self.p.by_name.get(name, [])
        if len(cands) == 1 and base.split(".")[0] in {m.split(".")[0] for m in self.p.modules}:
            return ("class", cands[0])
        return None

    def class_of(self, expr, sc, depth=0):
        t = self.expr_type(expr, sc, depth)
        return t[1] if t and t[0] == "class" else None

    def annotation_type(self, ann, sc, depth=0):
        if depth > 12 or ann is None:
            return None
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(ann, (ast.Name, ast.Attribute)):
            t = self.expr_type(ann, sc, depth + 1)
            if t and t[0] == "class":
                return ("inst", t[1])
            return None
        if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
            parts = [p for p in (ann.left, ann.right) if not (isinstance(p, ast.Constant) and p.value is None)]
            ts = [self.annotation_type(p, sc, depth + 1) for p in parts]
            return ts[0] if len(ts) == 1 else None
        if isinstance(ann, ast.Subscript):
            head = terminal(ann.value)
            inner = ann.slice
            if hasattr(ast, "Index") and isinstance(inner, getattr(ast, "Index")):  # Python < 3.9
                inner = inner.value
            if head in WRAP_ANNOTATIONS:
                if isinstance(inner, ast.Tuple):
                    inner = inner.elts[0]
                return self.annotation_type(inner, sc, depth + 1)
            if head == "Union" and isinstance(inner, ast.Tuple):
                parts = [p for p in inner.elts if not (isinstance(p, ast.Constant) and p.value is None) and terminal(p) != "None"]
                ts = [self.annotation_type(p, sc, depth + 1) for p in parts]
                return ts[0] if len(ts) == 1 else None
            if head in LIST_ANNOTATIONS:
                if isinstance(inner, ast.Tuple):
                    return None
                t = self.annotation_type(inner, sc, depth + 1)
                return ("list", t[1]) if t and t[0] == "inst" else None
        return None

    def relationship_target(self, cls, attr):
        """(ClassInfo, 'inst'|'list') for a relationship attribute of cls, when it can be told."""
        for c in [cls] + [b for n in cls.bases for b in self.p.by_name.get(n, [])]:
            if attr not in c.attrs:
                continue
            stmt, value, ann = c.attrs[attr]
            target, many = None, None
            if isinstance(value, ast.Call) and terminal(value.func) in ("relationship", "relation"):
                if value.args:
                    a0 = value.args[0]
                    target = str_const(a0) or terminal(a0)
                    if target and "." in target:
                        target = target.rsplit(".", 1)[1]
                for kw in value.keywords:
                    if kw.arg == "uselist" and isinstance(kw.value, ast.Constant):
                        many = bool(kw.value.value)
            elif value is not None:
                continue
            if ann is not None:
                a = ann
                if isinstance(a, ast.Constant) and isinstance(a.value, str):
                    try:
                        a = ast.parse(a.value, mode="eval").body
                    except SyntaxError:
                        a = None
                if isinstance(a, ast.Subscript) and terminal(a.value) == "Mapped":
                    inner = a.slice
                    if isinstance(inner, ast.Subscript) and terminal(inner.value) in LIST_ANNOTATIONS:
                        many = True
                        inner = inner.slice
                    elif many is None:
                        many = False
                    if isinstance(inner, ast.Subscript) and terminal(inner.value) == "Optional":
                        inner = inner.slice
                    name = str_const(inner) or terminal(inner)
                    if name and not target:
                        target = name
            if not target:
                return None
            cands = self.p.by_name.get(target, [])
            if len(cands) != 1:
                return None
            if many is None:
                # Without an annotation: many-to-one when this class holds a foreign key to the target's table.
                many = not self.has_fk_to(c, cands[0])
            return cands[0], ("list" if many else "inst")
        return None

    def has_fk_to(self, cls, target):
        if not target.tablename:
            return False
        for node in ast.walk(cls.node):
            if isinstance(node, ast.Call) and terminal(node.func) == "ForeignKey" and node.args:
                ref = str_const(node.args[0])
                if ref and ref.split(".")[0] == target.tablename:
                    return True
        return False

    def expr_type(self, e, sc, depth=0):
        if depth > 24 or e is None:
            return None
        if isinstance(e, ast.Name):
            return self.lookup(sc, e.id, depth)
        if isinstance(e, ast.Await):
            return self.expr_type(e.value, sc, depth + 1)
        if isinstance(e, ast.Attribute):
            base = self.expr_type(e.value, sc, depth + 1)
            if base is None:
                return None
            if base[0] == "module":
                return self.import_from(base[1], e.attr, depth + 1)
            if base[0] == "inst":
                rel = self.relationship_target(base[1], e.attr)
                if rel:
                    return (rel[1], rel[0])
            if base[0] == "class" and e.attr == "query":
                return ("query", base[1])  # Flask-SQLAlchemy's Model.query (or a query_property)
            return None
        if isinstance(e, ast.Subscript):
            base = self.expr_type(e.value, sc, depth + 1)
            if base and base[0] in ("list",) and not isinstance(e.slice, ast.Slice):
                return ("inst", base[1])
            return None
        if isinstance(e, ast.IfExp):
            a = self.expr_type(e.body, sc, depth + 1)
            b = self.expr_type(e.orelse, sc, depth + 1)
            if isinstance(e.orelse, ast.Constant) and e.orelse.value is None:
                return a
            return a if a == b else None
        if isinstance(e, ast.Call):
            return self.call_type(e, sc, depth)
        return None

    def call_type(self, e, sc, depth):
        f = e.func
        ft = self.expr_type(f, sc, depth + 1) if isinstance(f, (ast.Name, ast.Attribute)) else None
        if ft and ft[0] == "class":
            return ("inst", ft[1])
        if ft and ft[0] == "func":
            mod, fn = ft[1]
            if fn.returns is not None:
                return self.annotation_type(fn.returns, self.module_scope(mod), depth + 1)
            return None
        name = terminal(f)
        first_class = None
        if e.args:
            first_class = self.class_of(e.args[0], sc, depth + 1)
        if isinstance(f, ast.Name) and name == "select" and len(e.args) == 1 and first_class:
            return ("select", first_class)
        if not isinstance(f, ast.Attribute):
            return None
        recv = self.expr_type(f.value, sc, depth + 1)
        if name == "select" and len(e.args) == 1 and first_class:
            return ("select", first_class)
        if name == "query" and len(e.args) == 1 and first_class:
            return ("query", first_class)
        if name in ("get", "get_or_404") and first_class and recv is None:
            return ("inst", first_class)  # session.get(Tenant, id), Flask-SQLAlchemy's db.get_or_404(Tenant, id)
        if recv and recv[0] == "query":
            if name in QUERY_PASSTHROUGH:
                return recv
            if name in QUERY_SCALAR:
                return ("inst", recv[1])
            if name in QUERY_LIST:
                return ("list", recv[1])
            return None
        if recv and recv[0] == "select":
            return recv if name in QUERY_PASSTHROUGH else None
        if recv and recv[0] == "result":
            if name == "scalars":
                return ("query", recv[1])
            if name in ("scalar", "scalar_one", "scalar_one_or_none"):
                return ("inst", recv[1])
            return None
        arg_t = self.expr_type(e.args[0], sc, depth + 1) if e.args else None
        if arg_t and arg_t[0] == "select":
            if name == "scalars":
                return ("query", arg_t[1])
            if name in ("scalar", "scalar_one", "scalar_one_or_none", "first_or_404", "one_or_404"):
                return ("inst", arg_t[1])  # session.scalar(select(X)), Flask-SQLAlchemy's db.one_or_404(select(X))
            if name == "execute":
                return ("result", arg_t[1])
        return None


def iter_scopes(types, mod):
    """Yield (node, Scope) for the module and every function in it (methods know their class)."""
    ms = types.module_scope(mod)
    yield mod.src.tree, ms

    def walk(body, parent_scope, owner):
        for node in body:
            for child in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else [node]:
                if isinstance(child, ast.ClassDef):
                    c = types.class_at(mod, child)
                    yield from walk(child.body, parent_scope, c)
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    sc = types.scope_for(mod, child, parent_scope, owner)
                    yield child, sc
                    inner = child.body if isinstance(child.body, list) else [child.body]
                    yield from walk(inner, sc, None)

    yield from walk(mod.src.tree.body, ms, None)


def innermost_scope_map(types, mod):
    """node id -> Scope of the innermost function (or module) containing it."""
    mapping = {}
    for fnode, sc in iter_scopes(types, mod):
        body = fnode.body if isinstance(fnode, ast.Module) else (fnode.body if isinstance(fnode.body, list) else [fnode.body])
        stack = list(body)
        if not isinstance(fnode, ast.Module):
            stack += [d for d in getattr(fnode, "decorator_list", [])]
        while stack:
            n = stack.pop()
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and n is not fnode:
                # decorators and defaults belong to the outer scope; the body to its own
                for d in getattr(n, "decorator_list", []):
                    stack.append(d)
                continue
            mapping[id(n)] = sc
            stack.extend(ast.iter_child_nodes(n))
    return mapping


# ----------------------------------------------------------------------------------------------------------
# reserved-scan / reserved-fix


def probe_reserved(candidates=("metadata", "registry")):
    """Ask the installed SQLAlchemy (the target's own) which attribute names it refuses or warns about on a
    declarative class: {name: "raises" | "warns"}. Nothing is assumed from version numbers."""
    import warnings
    out = {}
    try:
        from sqlalchemy import Column, Integer, JSON
        from sqlalchemy.orm import declarative_base
    except Exception:
        return {"metadata": "raises"}
    styles = [lambda: declarative_base()]
    try:
        from sqlalchemy.orm import DeclarativeBase

        def typed():
            return type("RwProbeBase", (DeclarativeBase,), {})
        styles.append(typed)
    except ImportError:
        pass
    for name in candidates:
        for make in styles:
            base = make()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    type("RwProbe", (base,), {"__tablename__": "rw_probe", "id": Column(Integer, primary_key=True), name: Column(JSON)})
                if any("reserved" in str(w.message) for w in caught):
                    out.setdefault(name, "warns")
            except Exception as e:
                if "reserved" in str(e):
                    out[name] = "raises"
    return out


def reserved_names(req):
    names = list(req.get("names") or [])
    if names:
        return names
    return sorted(probe_reserved())


def find_reserved(project, names):
    found = []
    for c in project.classes:
        if not (c.is_decl or c.is_mixin):
            continue
        for attr in names:
            if attr not in c.attrs:
                continue
            stmt, value, ann = c.attrs[attr]
            kind = c.mapped_value_kind(value, ann)
            if kind is None:
                continue  # e.g. metadata = MetaData(...) on a base: legitimate
            found.append({"cls": c, "attr": attr, "stmt": stmt, "value": value, "ann": ann, "kind": kind})
    return found


def column_name_of(value, attr):
    """(explicit column name or None, the Column/mapped_column call or None)."""
    call = value
    if isinstance(call, ast.Call) and terminal(call.func) in COLUMN_WRAPPERS and call.args and isinstance(call.args[0], ast.Call):
        call = call.args[0]
    if not (isinstance(call, ast.Call) and terminal(call.func) in COLUMN_CONSTRUCTS):
        return None, None
    if call.args and str_const(call.args[0]) is not None:
        return str_const(call.args[0]), call
    for kw in call.keywords:
        if kw.arg == "name" and str_const(kw.value) is not None:
            return str_const(kw.value), call
    return None, call


def cmd_reserved_scan(req):
    root = req["root"]
    project = Project(root, req.get("exclude") or [], req.get("roots") or [])
    names = reserved_names(req)
    out = []
    for f in find_reserved(project, names):
        c = f["cls"]
        col, _ = column_name_of(f["value"], f["attr"])
        out.append({
            "file": c.src.rel, "line": f["stmt"].lineno, "class": c.name, "table": c.tablename,
            "attribute": f["attr"], "kind": f["kind"], "column": col or (f["attr"] if f["kind"] == "column" else None),
            "mixin": c.is_mixin,
        })
    return {"reservedNames": names, "probe": probe_reserved(), "sqlalchemyVersion": sa_version(), "found": out, "skippedFiles": project.skipped}


def new_attr_name(cls, attr, project, requested):
    if requested:
        return requested
    taken = set()
    for c in project.subclasses(cls):
        taken |= set(c.attrs)
    base = f"{snake(cls.name)}_{attr}"
    name, i = base, 2
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    return name


def cmd_reserved_fix(req):
    root = req["root"]
    apply = bool(req.get("apply", True))
    project = Project(root, req.get("exclude") or [], req.get("roots") or [])
    names = reserved_names(req)
    rename_req = req.get("rename") or {}  # {"Tenant.metadata": "tenant_metadata"}
    found = find_reserved(project, names)
    renames = []  # {cls, attr, new, owners, column}
    unresolved = []
    for f in found:
        c, attr = f["cls"], f["attr"]
        new = new_attr_name(c, attr, project, rename_req.get(f"{c.name}.{attr}"))
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", new):
            raise RequestError(f"bad new attribute name {new!r}")
        src = c.src
        stmt, value, ann = f["stmt"], f["value"], f["ann"]
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
        if isinstance(stmt, ast.Assign) and len(stmt.targets) != 1:
            unresolved.append({"file": src.rel, "line": stmt.lineno, "code": src.line_text(stmt.lineno).strip(),
                               "reason": "chained assignment of a reserved attribute: rename by hand"})
            continue
        src.replace(target, new, f"{c.name}.{attr} -> {new}")
        column = None
        if f["kind"] == "column":
            col, call = column_name_of(value, attr)
            if value is None:
                # `metadata: Mapped[X]` alone: give it an explicit mapped_column that keeps the column name
                mc = bound_name(project, src, "mapped_column")
                if mc is None:
                    mc = "mapped_column"
                    add_import(src, "sqlalchemy.orm", "mapped_column")
                s, e = src.span(stmt)
                src.edit(e, e, f" = {mc}({json.dumps(attr)})", f"keep column name {attr!r}")
                column = attr
            elif col is not None:
                column = col  # already named explicitly: the column keeps that name
            else:
                if call.args:
                    s, _ = src.span(call.args[0])
                    src.edit(s, s, f"{json.dumps(attr)}, ", f"keep column name {attr!r}")
                else:
                    # Column() / mapped_column(nullable=True): put the name first
                    head_end = src.span(call.func)[1]
                    rest = src.data[head_end:src.span(call)[1]]
                    paren = head_end + rest.index(b"(") + 1
                    sep = ", " if call.keywords else ""
                    src.edit(paren, paren, f"{json.dumps(attr)}{sep}", f"keep column name {attr!r}")
                column = attr
        owners = project.subclasses(c)
        if c.is_mixin:
            for d in project.classes:
                if c.name in d.bases:
                    owners |= project.subclasses(d)
        renames.append({"cls": c, "attr": attr, "new": new, "owners": owners, "column": column, "kind": f["kind"]})

    uses = update_uses(project, renames, unresolved)
    changed = write_sources(project.sources, apply)
    return {
        "reservedNames": names,
        "probe": probe_reserved(),
        "sqlalchemyVersion": sa_version(),
        "renamed": [{"class": r["cls"].name, "file": r["cls"].src.rel, "table": r["cls"].tablename, "attribute": r["attr"],
                     "newAttribute": r["new"], "column": r["column"], "kind": r["kind"], "mixin": r["cls"].is_mixin}
                    for r in renames],
        "usesUpdated": uses,
        "unresolved": unresolved,
        "changedFiles": [c["file"] for c in changed],
        "changes": changed,
        "applied": apply,
        "skippedFiles": project.skipped,
    }


def bound_name(project, src, name):
    for node in src.tree.body:
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name == name:
                    return a.asname or a.name
    return None


def add_import(src, module, name):
    """Bind `name` from `module`: extend a one-line `from module import ...`, else add a line after the imports."""
    last = None
    for node in src.tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == module and node.level == 0 and node.lineno == node.end_lineno \
                and all(a.name != "*" for a in node.names):
            s, e = src.span(node)
            if not src.data[s:e].rstrip().endswith(b")"):
                _, ae = src.span(node.names[-1]) if hasattr(node.names[-1], "end_col_offset") and node.names[-1].end_col_offset is not None else (None, e)
                src.insert(ae, f", {name}", f"import {name}")
                return
    for node in src.tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            last = node
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and last is None:
            continue  # module docstring
        elif last is not None:
            break
    if last is None:
        src.insert(0, f"from {module} import {name}\n", f"import {name}")
    else:
        _, e = src.span(last)
        nl = src.data.find(b"\n", e)
        at = len(src.data) if nl < 0 else nl + 1
        src.insert(at, f"from {module} import {name}\n", f"import {name}")


def update_uses(project, renames, unresolved):
    if not renames:
        return []
    types = Types(project)
    by_attr = {}
    for r in renames:
        by_attr.setdefault(r["attr"], []).append(r)
    owner_names = {o.name for r in renames for o in r["owners"]}
    updated = []

    def owner_rename(cls, attr):
        if cls is None:
            return None
        for r in by_attr.get(attr, []):
            if cls in r["owners"]:
                return r
        return None

    for mod in project.modules.values():
        src = mod.src
        smap = innermost_scope_map(types, mod)
        mentions_model = any(isinstance(n, ast.Name) and n.id in owner_names for n in ast.walk(src.tree)) or any(
            isinstance(n, ast.alias) and (n.name.split(".")[-1] in owner_names) for n in ast.walk(src.tree))
        module_scope = types.module_scope(mod)

        def scope_of(node):
            return smap.get(id(node), module_scope)

        def note(node, what):
            updated.append({"file": src.rel, "line": node.lineno, "change": what})

        def unresolved_at(node, reason):
            unresolved.append({"file": src.rel, "line": node.lineno, "col": node.col_offset,
                               "code": src.line_text(node.lineno).strip(), "reason": reason,
                               "mentionsModel": mentions_model})

        # class bodies of owners: bare names in the class body and @validates("metadata")
        for r in renames:
            for owner in r["owners"]:
                if owner.src is not src:
                    continue
                for stmt in owner.node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        for d in stmt.decorator_list:
                            if isinstance(d, ast.Call) and terminal(d.func) == "validates":
                                for a in d.args:
                                    if str_const(a) == r["attr"]:
                                        src.replace(a, json.dumps(r["new"]), f"@validates({r['attr']!r}) -> {r['new']!r}")
                                        note(a, f"@validates: {r['attr']} -> {r['new']}")
                        continue
                    if stmt is r["cls"].attrs.get(r["attr"], (None,))[0] and owner is r["cls"]:
                        continue
                    for n in ast.walk(stmt):
                        if isinstance(n, ast.Name) and n.id == r["attr"] and isinstance(n.ctx, ast.Load):
                            src.replace(n, r["new"], f"class body name {r['attr']} -> {r['new']}")
                            note(n, f"{owner.name} body: {r['attr']} -> {r['new']}")

        for node in ast.walk(src.tree):
            # X.metadata
            if isinstance(node, ast.Attribute) and node.attr in by_attr:
                parent = src.parents.get(node)
                sc = scope_of(node)
                t = types.expr_type(node.value, sc)
                if (t is None or t[0] == "class") and isinstance(parent, ast.Attribute) and parent.attr in METADATA_API:
                    continue  # Tenant.metadata.create_all(...): the MetaData, as intended
                if t and t[0] in ("class", "inst"):
                    r = owner_rename(t[1], node.attr)
                    if r:
                        s, e = src.span(node)
                        # replace only the attribute name at the end of the node
                        src.edit(e - len(node.attr.encode()), e, r["new"], f".{node.attr} -> .{r['new']}")
                        note(node, f"{src.text(node.value)}.{node.attr} -> .{r['new']} ({t[0]} of {t[1].name})")
                    continue  # a known class that is not an owner (Base.metadata): not ours
                if t and t[0] == "module":
                    continue
                if isinstance(node.value, ast.Name) and (node.value.id in project.base_names or node.value.id in project.flask_db_names):
                    continue
                if t is None:
                    unresolved_at(node, f"`{src.text(node)}`: cannot tell whether this object is a "
                                        f"{'/'.join(sorted({r['cls'].name for r in by_attr[node.attr]}))}")
                continue
            if isinstance(node, ast.Call):
                sc = None
                kws = [kw for kw in node.keywords if kw.arg in by_attr]
                fname = terminal(node.func)
                # getattr(obj, "metadata") and friends
                if fname in ("getattr", "setattr", "hasattr", "delattr") and isinstance(node.func, ast.Name) and len(node.args) >= 2:
                    attr = str_const(node.args[1])
                    if attr in by_attr:
                        sc = scope_of(node)
                        t = types.expr_type(node.args[0], sc)
                        r = owner_rename(t[1], attr) if t and t[0] in ("class", "inst") else None
                        if r:
                            src.replace(node.args[1], json.dumps(r["new"]), f"{fname} {attr!r} -> {r['new']!r}")
                            note(node, f"{fname}(..., {attr!r}) -> {r['new']!r}")
                        elif t is None:
                            unresolved_at(node, f"`{src.text(node)}`: cannot tell the object's class")
                if not kws:
                    continue
                sc = sc or scope_of(node)
                ft = types.expr_type(node.func, sc) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
                target_cls = None
                if ft and ft[0] == "class":
                    target_cls = ft[1]  # Tenant(metadata=...)
                elif isinstance(node.func, ast.Attribute) and node.func.attr == "filter_by":
                    rt = types.expr_type(node.func.value, sc)
                    if rt and rt[0] in ("query", "select"):
                        target_cls = rt[1]
                for kw in kws:
                    r = owner_rename(target_cls, kw.arg)
                    if r:
                        s = src.off(kw.lineno, kw.col_offset)
                        src.edit(s, s + len(kw.arg.encode()), r["new"], f"{kw.arg}= -> {r['new']}=")
                        note(kw, f"{fname}({kw.arg}=...) -> {r['new']}=")
                    elif target_cls is None and mentions_model and fname not in (
                            "declarative_base", "registry", "MetaData", "Table", "as_declarative", "sessionmaker",
                            "configure", "DeclarativeBase", "generate_base", "automap_base"):
                        unresolved_at(kw, f"`{fname}({kw.arg}=...)`: cannot tell whether this builds or filters a "
                                          f"{'/'.join(sorted({r['cls'].name for r in by_attr[kw.arg]}))}")
            # "Tenant.metadata" inside strings (order_by="Tenant.metadata", primaryjoin=...)
            s = str_const(node)
            if s and "." in s and len(s) < 400:
                new_s = s
                for r in renames:
                    for owner in r["owners"]:
                        pat = re.compile(r"\b" + re.escape(owner.name) + r"\." + re.escape(r["attr"]) + r"\b")
                        new_s = pat.sub(f"{owner.name}.{r['new']}", new_s)
                if new_s != s and not isinstance(src.parents.get(node), ast.JoinedStr):
                    src.replace(node, json.dumps(new_s), f"string {s!r} -> {new_s!r}")
                    note(node, f"string {s!r} -> {new_s!r}")
            elif s in by_attr and mentions_model:
                parent = src.parents.get(node)
                # Column("metadata", ...) names a column (unchanged on purpose); other mentions need a person.
                if isinstance(parent, ast.Call) and terminal(parent.func) in COLUMN_CONSTRUCTS | {"Index", "UniqueConstraint", "PrimaryKeyConstraint", "ForeignKey", "CheckConstraint", "text", "literal_column", "column"}:
                    continue
                if isinstance(parent, ast.Call) and terminal(parent.func) in ("getattr", "setattr", "hasattr", "delattr", "validates"):
                    continue
                if isinstance(parent, ast.keyword) and parent.arg in ("name", "key"):
                    continue
                unresolved_at(node, f"string {s!r}: attribute name or column name? check by hand")
    return updated


# ----------------------------------------------------------------------------------------------------------
# env-fix


SYNC_HELPERS = '''
def _runwright_sync_url(url):
    """runwright: Alembic runs migrations on a sync engine; map an async driver URL to its sync form
    (postgresql+asyncpg:// -> postgresql+psycopg2://, or +psycopg when only that is installed)."""
    import importlib.util
    from sqlalchemy.engine import make_url
    u = make_url(url)
    backend, _, driver = u.drivername.partition("+")
    if backend == "postgresql" and driver in ("", "asyncpg", "psycopg_async", "aiopg"):
        # explicit, because the default driver of a bare postgresql:// differs (psycopg2 on 1.4/2.0, psycopg on 2.1)
        driver = "psycopg2" if importlib.util.find_spec("psycopg2") else "psycopg"
        u = u.set(drivername="postgresql+" + driver)
    elif driver in ("aiosqlite",):
        u = u.set(drivername=backend)
    elif driver in ("aiomysql", "asyncmy"):
        u = u.set(drivername=backend + "+pymysql")
    return u.render_as_string(hide_password=False)

'''

ASYNC_HELPERS = '''
def _runwright_async_url(url):
    """runwright: the project is async throughout; run migrations through an async driver with
    connection.run_sync() (postgresql:// or postgresql+psycopg2:// -> postgresql+asyncpg://)."""
    import importlib.util
    from sqlalchemy.engine import make_url
    u = make_url(url)
    backend, _, driver = u.drivername.partition("+")
    if backend == "postgresql" and driver in ("", "psycopg2", "pg8000", "psycopg2cffi"):
        u = u.set(drivername="postgresql+" + ("asyncpg" if importlib.util.find_spec("asyncpg") else "psycopg"))
    elif backend == "sqlite" and driver in ("", "pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)

'''

SECTION_HELPER = '''

def _runwright_{kind}_section(section, prefix="sqlalchemy."):
    """runwright: the {func}() section with its URL in {kind} form."""
    section = dict(section or {{}})
    if section.get(prefix + "url"):
        section[prefix + "url"] = _runwright_{kind}_url(section[prefix + "url"])
    return section
'''
SYNC_HELPERS = SYNC_HELPERS.rstrip() + "\n" + SECTION_HELPER.format(kind="sync", func="engine_from_config")
ASYNC_HELPERS = ASYNC_HELPERS.rstrip() + "\n" + SECTION_HELPER.format(kind="async", func="async_engine_from_config")

ASYNC_ENGINE_FUNCS = {"async_engine_from_config", "create_async_engine"}
SYNC_ENGINE_FUNCS = {"engine_from_config", "create_engine"}


def project_async_usage(project_root, exclude):
    """How the application (not its migrations) talks to the database."""
    uses_async, uses_sync, files = set(), set(), []
    for full, rel in walk_py(project_root, exclude):
        try:
            with open(full, "rb") as f:
                tree = ast.parse(f.read(), filename=rel)
        except (SyntaxError, ValueError):
            continue
        for n in ast.walk(tree):
            t = terminal(n.func) if isinstance(n, ast.Call) else None
            if t in ("create_async_engine", "async_sessionmaker", "AsyncSession", "async_scoped_session"):
                uses_async.add(rel)
            elif t in ("create_engine", "engine_from_config"):
                uses_sync.add(rel)
            elif t == "sessionmaker":
                kws = {kw.arg: kw.value for kw in n.keywords}
                cls = kws.get("class_")
                if cls is not None and terminal(cls) == "AsyncSession":
                    uses_async.add(rel)
                else:
                    uses_sync.add(rel)
    return sorted(uses_async), sorted(uses_sync)


def engine_prefix_text(src, call):
    for kw in call.keywords:
        if kw.arg == "prefix":
            return src.text(kw.value)
    if len(call.args) >= 2:
        return src.text(call.args[1])
    return '"sqlalchemy."'


def wrap_url_args(src, calls, section_head, section_helper, url_helper, note):
    """Wrap each engine call's first argument in a runwright helper: the config-section form for `section_head`
    (keeps the call's prefix), the URL form for the others. True when anything was wrapped."""
    wrapped = False
    for call in calls:
        helper = section_helper if terminal(call.func) == section_head else url_helper
        if call.args and not is_wrapped(call.args[0], helper):
            arg = src.text(call.args[0])
            src.replace(call.args[0], f"{helper}({arg}, {engine_prefix_text(src, call)})" if helper == section_helper else f"{helper}({arg})", note)
            wrapped = True
    return wrapped


def is_wrapped(arg, helper):
    return isinstance(arg, ast.Call) and terminal(arg.func) == helper


def enclosing_function(src, node):
    cur = src.parents.get(node)
    while cur is not None and not isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef)):
        cur = src.parents.get(cur)
    return cur


def top_level_def_insert_offset(src):
    for stmt in src.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = stmt.decorator_list[0] if stmt.decorator_list else stmt
            return src.off(first.lineno, 0)
    return len(src.data)


def bind_sqlalchemy_name(src, name):
    """Make `name` (engine_from_config / create_engine / ...) importable in env.py; returns the local name."""
    for node in src.tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in ("sqlalchemy", "sqlalchemy.ext.asyncio", "sqlalchemy.engine"):
            for a in node.names:
                if a.name == name:
                    return a.asname or a.name
    add_import(src, "sqlalchemy" if name in ("engine_from_config", "create_engine", "pool") else "sqlalchemy.ext.asyncio", name)
    return name


def desync_function(src, fn, sync_funcs, problems):
    """Turn `async def fn` into `def fn`: async with -> with, await conn.run_sync(f) -> f(conn),
    await x.dispose() -> x.dispose(), await g() -> g() for functions made sync too."""
    s = src.off(fn.lineno, fn.col_offset)
    if src.data[s:s + 6] != b"async ":
        problems.append(f"line {fn.lineno}: cannot find the async keyword")
        return
    src.edit(s, s + 6, "", f"async def {fn.name} -> def {fn.name}")
    for n in ast.walk(fn):
        if n is fn:
            continue
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(n, ast.AsyncWith):
            p = src.off(n.lineno, n.col_offset)
            if src.data[p:p + 6] == b"async ":
                src.edit(p, p + 6, "", "async with -> with")
        elif isinstance(n, ast.AsyncFor):
            problems.append(f"line {n.lineno}: `async for` in {fn.name}() is not something a sync engine can do")
        elif isinstance(n, ast.Await):
            v = n.value
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "run_sync" and v.args:
                fn_text = src.text(v.args[0])
                rest = [src.text(a) for a in v.args[1:]] + [f"{kw.arg}={src.text(kw.value)}" for kw in v.keywords if kw.arg]
                src.replace(n, f"{fn_text}({', '.join([src.text(v.func.value)] + rest)})", "await conn.run_sync(f) -> f(conn)")
            elif isinstance(v, ast.Call) and (
                    (isinstance(v.func, ast.Attribute) and v.func.attr in ("dispose", "close", "commit", "rollback", "connect", "begin"))
                    or terminal(v.func) in sync_funcs):
                p = src.off(n.lineno, n.col_offset)
                if src.data[p:p + 6] == b"await ":
                    src.edit(p, p + 6, "", "drop await")
                else:
                    src.replace(n, src.text(v), "drop await")
            else:
                problems.append(f"line {n.lineno}: `{src.text(n)}` has no sync equivalent we can write safely")


def cmd_env_fix(req):
    project_dir = os.path.realpath(req["projectDir"])
    env_rel = req["envPy"]
    env_path = os.path.join(project_dir, env_rel)
    apply = bool(req.get("apply", True))
    mode_req = req.get("mode", "auto")
    src = Source(env_path, env_rel)
    tree = src.tree
    # alembic 1.8's async template wraps a sync engine: AsyncEngine(engine_from_config(...)). The wrapper makes it
    # an async engine; the inner call is where the URL goes.
    wrappers = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and terminal(n.func) == "AsyncEngine" and n.args
                and isinstance(n.args[0], ast.Call) and terminal(n.args[0].func) in SYNC_ENGINE_FUNCS]
    wrapped_inner = {id(w.args[0]) for w in wrappers}
    engine_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and terminal(n.func) in ASYNC_ENGINE_FUNCS | SYNC_ENGINE_FUNCS]
    async_calls = [n for n in engine_calls if terminal(n.func) in ASYNC_ENGINE_FUNCS] + wrappers
    sync_calls = [n for n in engine_calls if terminal(n.func) in SYNC_ENGINE_FUNCS and id(n) not in wrapped_inner]
    inner_calls = [w.args[0] for w in wrappers]
    engine_calls = engine_calls + wrappers
    uses_run_sync = any(isinstance(n, ast.Attribute) and n.attr == "run_sync" for n in ast.walk(tree))
    app_async, app_sync = project_async_usage(project_dir, req.get("exclude") or [])
    drivers = {m: has_module(m) for m in ("psycopg2", "psycopg", "asyncpg", "greenlet")}
    sync_driver = drivers["psycopg2"] or drivers["psycopg"]
    async_driver = (drivers["asyncpg"] or drivers["psycopg"]) and drivers["greenlet"]
    async_throughout = bool(app_async) and not app_sync

    if mode_req == "auto":
        if async_throughout and async_driver and async_calls and uses_run_sync:
            mode = "async"
        elif sync_driver:
            mode = "sync"
        elif async_driver and async_calls and uses_run_sync:
            mode = "async"
        else:
            mode = "none"
    else:
        mode = mode_req
    analysis = {
        "engineCalls": [{"line": n.lineno, "func": terminal(n.func)} for n in engine_calls],
        "asyncEngine": bool(async_calls), "usesRunSync": uses_run_sync,
        "appAsyncFiles": app_async, "appSyncFiles": app_sync, "asyncThroughout": async_throughout, "drivers": drivers,
    }
    problems = []
    if mode == "none":
        problems.append("no usable driver: neither a sync driver (psycopg2/psycopg) nor an async one with greenlet imports here")
    if not engine_calls:
        problems.append("env.py builds no engine we recognise (engine_from_config / async_engine_from_config / create_engine / create_async_engine)")

    if not problems and mode == "sync":
        helpers_needed = False
        sync_funcs = set()
        for call in async_calls:
            fn = enclosing_function(src, call)
            if fn is None:
                problems.append(f"line {call.lineno}: the async engine is built outside a function")
                continue
            if isinstance(fn, ast.AsyncFunctionDef):
                sync_funcs.add(fn.name)
        # callers that await a function we make sync become sync too (fixpoint)
        changed = True
        while changed:
            changed = False
            for fn in [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name not in sync_funcs]:
                if any(isinstance(a, ast.Await) and isinstance(a.value, ast.Call) and terminal(a.value.func) in sync_funcs for a in ast.walk(fn)):
                    sync_funcs.add(fn.name)
                    changed = True
        for call in async_calls:
            head = terminal(call.func)
            if head == "AsyncEngine":
                # AsyncEngine(engine_from_config(...)) -> engine_from_config(...): drop the wrapper around the inner call
                inner = call.args[0]
                cs, ce = src.span(call)
                is_, ie = src.span(inner)
                src.edit(cs, is_, "", "AsyncEngine(...) -> the sync engine it wraps")
                src.edit(ie, ce, "", "AsyncEngine(...) closing parenthesis")
                wrap_url_args(src, [inner], "engine_from_config", "_runwright_sync_section", "_runwright_sync_url", "URL -> sync form")
                helpers_needed = True
                continue
            if head == "async_engine_from_config":
                new_head = bind_sqlalchemy_name(src, "engine_from_config")
                if call.args and not is_wrapped(call.args[0], "_runwright_sync_section"):
                    src.replace(call.args[0], f"_runwright_sync_section({src.text(call.args[0])}, {engine_prefix_text(src, call)})", "section URL -> sync form")
            else:
                new_head = bind_sqlalchemy_name(src, "create_engine")
                if call.args and not is_wrapped(call.args[0], "_runwright_sync_url"):
                    src.replace(call.args[0], f"_runwright_sync_url({src.text(call.args[0])})", "URL -> sync form")
            src.replace(call.func, new_head, f"{head} -> {new_head}")
            helpers_needed = True
        if wrap_url_args(src, sync_calls, "engine_from_config", "_runwright_sync_section", "_runwright_sync_url", "URL -> sync form"):
            helpers_needed = True
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name in sync_funcs]:
            desync_function(src, fn, sync_funcs, problems)
        # asyncio.run(f()) / loop.run_until_complete(f()) -> f()
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and terminal(n.func) in ("run", "run_until_complete") and len(n.args) == 1 \
                    and isinstance(n.args[0], ast.Call) and terminal(n.args[0].func) in sync_funcs:
                src.replace(n, src.text(n.args[0]), f"{src.text(n.func)}({terminal(n.args[0].func)}()) -> direct call")
        if helpers_needed and "_runwright_sync_url" not in src.data.decode("utf-8"):
            src.insert(top_level_def_insert_offset(src), SYNC_HELPERS.lstrip("\n") + "\n\n", "sync URL helpers")
        drop_unused_async_imports(src)
    elif not problems and mode == "async":
        if not async_calls:
            problems.append("mode async asked, but env.py builds a sync engine: rewriting it into the run_sync recipe is not automated")
        elif not uses_run_sync:
            problems.append("env.py builds an async engine but never calls connection.run_sync(): rewrite by hand")
        else:
            direct = [c for c in async_calls if terminal(c.func) != "AsyncEngine"]
            helpers_needed = wrap_url_args(src, direct, "async_engine_from_config", "_runwright_async_section", "_runwright_async_url", "URL -> async driver")
            if wrap_url_args(src, inner_calls, "engine_from_config", "_runwright_async_section", "_runwright_async_url", "URL -> async driver"):
                helpers_needed = True
            if helpers_needed and "_runwright_async_url" not in src.data.decode("utf-8"):
                src.insert(top_level_def_insert_offset(src), ASYNC_HELPERS.lstrip("\n") + "\n\n", "async URL helpers")
    if problems:
        src.edits = []
    changed = write_sources([src], apply and not problems)
    return {
        "mode": mode, "requestedMode": mode_req, "analysis": analysis, "problems": problems,
        "changedFiles": [c["file"] for c in changed] if not problems else [],
        "changes": changed, "applied": apply and not problems,
        "offlineMode": has_offline_function(tree),
    }


def has_offline_function(tree):
    return any(isinstance(n, ast.Call) and terminal(n.func) == "is_offline_mode" for n in ast.walk(tree))


def drop_unused_async_imports(src):
    """Remove names from `from sqlalchemy.ext.asyncio import ...` / `import asyncio` the edits left unused."""
    removed_spans = [(s, e) for (s, e, t, _n) in src.edits if e > s]

    def used_outside_edits(name):
        for n in ast.walk(src.tree):
            if isinstance(n, ast.Name) and n.id == name:
                s, e = src.span(n)
                if not any(rs <= s and e <= re_ for (rs, re_) in removed_spans):
                    return True
        return False

    for node in src.tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy.ext.asyncio":
            keep = [a for a in node.names if used_outside_edits(a.asname or a.name)]
            if len(keep) == len(node.names):
                continue
            s, e = src.span(node)
            if keep:
                names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in keep)
                src.edit(s, e, f"from sqlalchemy.ext.asyncio import {names}", "drop unused async imports")
            else:
                end = e + 1 if src.data[e:e + 1] == b"\n" else e
                src.edit(s, end, "", "drop unused async import")
        elif isinstance(node, ast.Import) and len(node.names) == 1 and node.names[0].name == "asyncio" and not node.names[0].asname:
            if not used_outside_edits("asyncio"):
                s, e = src.span(node)
                end = e + 1 if src.data[e:e + 1] == b"\n" else e
                src.edit(s, end, "", "drop unused import asyncio")


# ----------------------------------------------------------------------------------------------------------
# imports-fix


def defines_models(mod, project):
    for c in project.classes:
        if c.src is mod.src and (c.is_decl and (c.tablename or "__table__" in c.attrs)):
            return True
    for n in ast.walk(mod.src.tree):
        if isinstance(n, ast.Call) and terminal(n.func) == "Table" and n.args and str_const(n.args[0]):
            return True
    return False


def import_closure(project, start_src, start_name):
    """Modules of the project reached by the imports of start (transitively, packages' __init__ included)."""
    seen = set()
    todo = [(start_src, start_name)]
    while todo:
        src, name = todo.pop()
        mod = project.modules.get(name) if name else None
        is_pkg = bool(mod and mod.is_package)

        def reach(modname):
            parts = modname.split(".")
            for i in range(1, len(parts) + 1):
                m = ".".join(parts[:i])
                if m in project.modules and m not in seen:
                    seen.add(m)
                    todo.append((project.modules[m].src, m))

        for n in ast.walk(src.tree):
            if isinstance(n, ast.Import):
                for a in n.names:
                    reach(a.name)
            elif isinstance(n, ast.ImportFrom):
                if n.level and name is not None:
                    pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                    if n.level > 1:
                        pkg = pkg[: len(pkg) - (n.level - 1)]
                    base = ".".join(pkg + ([n.module] if n.module else []))
                else:
                    base = n.module or ""
                reach(base)
                for a in n.names:
                    if a.name != "*":
                        reach(f"{base}.{a.name}")
                    elif base in project.modules:
                        # `from pkg import *` runs pkg/__init__ only (plus its __all__ submodules)
                        pass
    return seen


def models_package(models_rel, roots):
    """The dotted package (or module) of the models folder / file; None for the whole project ('.')."""
    models_rel = os.path.normpath(models_rel)
    if models_rel in (".", ""):
        return None
    return module_name(models_rel if models_rel.endswith(".py") else models_rel + ".py", roots) or None


def in_package(name, prefix):
    return prefix is None or name == prefix or name.startswith(prefix + ".")


def cmd_imports_fix(req):
    project_dir = os.path.realpath(req["projectDir"])
    env_rel = req["envPy"]
    models_rel = os.path.normpath(req["modelsDir"])  # relative to projectDir
    apply = bool(req.get("apply", True))
    exclude = list(req.get("exclude") or [])
    project = Project(project_dir, exclude, req.get("roots") or [])
    env_src = Source(os.path.join(project_dir, env_rel), env_rel)
    problems = []
    tm = None
    for stmt in env_src.tree.body:
        tgt = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else (stmt.target if isinstance(stmt, ast.AnnAssign) else None)
        if isinstance(tgt, ast.Name) and tgt.id == "target_metadata":
            tm = stmt
    if tm is None:
        problems.append("env.py sets no module-level target_metadata")
    elif isinstance(tm.value, ast.Constant) and tm.value.value is None:
        problems.append("target_metadata = None: autogenerate has nothing to compare; point it at the models' MetaData by hand")
    models_prefix = models_package(models_rel, project.roots)
    model_modules = sorted(m.name for m in project.modules.values()
                           if in_package(m.name, models_prefix) and defines_models(m, project)
                           and not any(m.src.rel == v or m.src.rel.startswith(v + os.sep) for v in exclude))
    reached = import_closure(project, env_src, None)
    missing = [m for m in model_modules if m not in reached]
    if tm is not None and missing and not problems:
        indent = " " * tm.col_offset
        lines = [f"{indent}# runwright: autogenerate only sees tables whose model modules are imported before it runs"]
        lines += [f"{indent}import {m}  # noqa: F401" for m in missing]
        at = env_src.off(tm.lineno, 0)
        env_src.insert(at, "\n".join(lines) + "\n", f"import {len(missing)} model module(s)")
    changed = write_sources([env_src], apply and not problems)
    return {
        "modelsPackage": models_prefix, "modelModules": model_modules, "imported": sorted(m for m in model_modules if m in reached),
        "missing": missing, "targetMetadata": env_src.text(tm.value) if tm is not None and tm.value is not None else None,
        "problems": problems, "changedFiles": [c["file"] for c in changed], "changes": changed, "applied": apply and not problems,
    }


# ----------------------------------------------------------------------------------------------------------
# model-tables / migration-ops / project


def cmd_model_tables(req):
    project = Project(req["root"], req.get("exclude") or [], req.get("roots") or [])
    models_rel = req.get("modelsDir")
    prefix = models_package(models_rel, project.roots) if models_rel else None
    only = set(req.get("modules") or [])
    tables = {}
    for c in project.classes:
        if not c.is_decl or not c.tablename or c.abstract:
            continue
        if not in_package(c.module, prefix):
            continue
        if only and c.module not in only:
            continue
        cols = []
        for klass in [c] + [m for b in c.bases for m in project.by_name.get(b, []) if m.is_mixin]:
            for attr, (stmt, value, ann) in klass.attrs.items():
                kind = klass.mapped_value_kind(value, ann)
                if kind != "column":
                    continue
                name, _call = column_name_of(value, attr)
                cols.append(name or attr)
        tables[c.tablename] = {"class": c.name, "module": c.module, "file": c.src.rel, "columns": sorted(set(cols))}
    return {"tables": tables}


def op_calls(fn):
    ops = []
    batch_tables = {}
    for n in ast.walk(fn):
        if isinstance(n, ast.With):
            for item in n.items:
                c = item.context_expr
                if isinstance(c, ast.Call) and terminal(c.func) == "batch_alter_table" and isinstance(item.optional_vars, ast.Name):
                    batch_tables[item.optional_vars.id] = str_const(c.args[0]) if c.args else None
    for n in ast.walk(fn):
        if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)):
            continue
        recv = n.func.value.id
        if recv != "op" and recv not in batch_tables:
            continue
        name = n.func.attr
        if name in ("batch_alter_table", "f"):
            continue
        args = list(n.args)
        kws = {kw.arg: kw.value for kw in n.keywords if kw.arg}
        table = batch_tables.get(recv) if recv != "op" else None
        if recv == "op" and name not in ("execute", "f") and args:
            if name in ("create_index", "drop_index", "create_foreign_key", "create_unique_constraint", "drop_constraint", "create_primary_key", "create_check_constraint"):
                table = str_const(args[1]) if len(args) > 1 else str_const(kws.get("table_name"))
            else:
                table = str_const(args[0])
                args = args[1:]
        elif recv == "op" and "table_name" in kws:
            table = str_const(kws["table_name"])
        entry = {"op": name, "table": table, "line": n.lineno}
        if name == "create_table":
            entry["columns"] = [str_const(a.args[0]) for a in args if isinstance(a, ast.Call) and terminal(a.func) == "Column" and a.args and str_const(a.args[0])]
        elif name == "add_column":
            col = args[0] if args else kws.get("column")
            if isinstance(col, ast.Call) and col.args:
                entry["column"] = str_const(col.args[0])
        elif name in ("drop_column", "alter_column"):
            entry["column"] = str_const(args[0]) if args else str_const(kws.get("column_name"))
            if "new_column_name" in kws:
                entry["newColumnName"] = str_const(kws["new_column_name"])
        elif name in ("create_index", "drop_index"):
            entry["index"] = str_const(n.args[0]) if n.args else None
        ops.append(entry)
    ops.sort(key=lambda o: o["line"])
    return ops


def cmd_migration_ops(req):
    path = req["file"]
    with open(path, "rb") as f:
        data = f.read()
    tree = ast.parse(data, filename=os.path.basename(path))
    out = {"revision": None, "downRevision": None, "upgrade": [], "downgrade": []}
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            tgt = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
            if isinstance(tgt, ast.Name) and tgt.id in ("revision", "down_revision"):
                v = stmt.value.value if isinstance(stmt.value, ast.Constant) else None
                out["revision" if tgt.id == "revision" else "downRevision"] = v
        if isinstance(stmt, ast.FunctionDef) and stmt.name in ("upgrade", "downgrade"):
            out[stmt.name] = op_calls(stmt)
    out["empty"] = len(out["upgrade"]) == 0
    destructive = []
    for o in out["upgrade"]:
        if o["op"] in ("drop_table", "drop_column") or (o["op"] == "alter_column" and o.get("newColumnName")):
            destructive.append(o)
    out["destructive"] = destructive
    return out


def read_toml_alembic(path):
    """[tool.alembic] of a pyproject.toml (alembic >= 1.16 reads it after the ini), {} when absent."""
    if not os.path.isfile(path):
        return {}
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise RequestError("pyproject.toml holds the alembic configuration but this Python has no TOML reader (tomllib, 3.11+)")
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except Exception as e:  # tomllib.TOMLDecodeError
            raise RequestError(f"pyproject.toml does not parse: {e}")
    section = data.get("tool", {}).get("alembic", {})
    return section if isinstance(section, dict) else {}


def cmd_project(req):
    project_dir = os.path.realpath(req["projectDir"])
    ini_rel = req.get("ini") or "alembic.ini"
    ini_path = os.path.join(project_dir, ini_rel)
    # alembic runs in the project folder: its pyproject.toml there is read after the ini (ini keys win)
    toml_path = os.path.join(project_dir, "pyproject.toml")
    toml = read_toml_alembic(toml_path)
    cp = configparser.RawConfigParser()
    section = req.get("section") or "alembic"
    if os.path.isfile(ini_path):
        cp.read(ini_path, encoding="utf-8")
    elif not toml:
        raise RequestError(f"no {ini_rel} (and no [tool.alembic] in pyproject.toml) in the project directory")
    if not cp.has_section(section) and not toml:
        raise RequestError(f"{ini_rel} has no [{section}] section (and pyproject.toml no [tool.alembic])")
    here = os.path.dirname(ini_path)
    toml_here = os.path.dirname(toml_path)

    def expand(v, at=None):
        return v.replace("%(here)s", at or here).strip()

    def ini_opt(name):
        return cp.get(section, name) if cp.has_section(section) and cp.has_option(section, name) else None

    def toml_list(name):
        v = toml.get(name)
        if v is None:
            return None
        items = v if isinstance(v, list) else [v]
        if not all(isinstance(x, str) for x in items):
            raise RequestError(f"pyproject.toml [tool.alembic] {name} must be a string or a list of strings")
        return [expand(x, toml_here) for x in items if x.strip()]

    raw_sl = ini_opt("script_location")
    if raw_sl is not None:
        script_location = expand(raw_sl)
    elif isinstance(toml.get("script_location"), str):
        script_location = expand(toml["script_location"], toml_here)
    else:
        raise RequestError(f"no script_location in {ini_rel} [{section}] or pyproject.toml [tool.alembic]")
    if ":" in script_location and not os.path.isabs(script_location):
        raise RequestError("package-resource script_location (pkg:dir) is not supported")
    sl_abs = os.path.realpath(os.path.join(project_dir, script_location))
    if not (sl_abs == project_dir or sl_abs.startswith(project_dir + os.sep)):
        raise RequestError("script_location is outside the project directory")
    # alembic >= 1.16 splits version_locations and prepend_sys_path on path_separator; older ones on
    # version_path_separator (version_locations) and on spaces/commas (prepend_sys_path).
    path_sep = ini_opt("path_separator")
    splitters = {"os": os.pathsep, "space": " ", "newline": "\n", ":": ":", ";": ";"}

    def split(raw, sep_name, legacy):
        sep = splitters.get((sep_name or "").strip()) if sep_name else None
        if sep is None:
            return [x for x in re.split(legacy, raw) if x.strip()]
        return [x for x in (raw.split(sep) if sep != " " else raw.split()) if x.strip()]

    versions = []
    raw_vl = ini_opt("version_locations")
    toml_vl = toml_list("version_locations") if raw_vl is None else None
    if raw_vl is not None:
        raw = expand(raw_vl)
        sep_name = path_sep if path_sep is not None else ini_opt("version_path_separator")
        for v in split(raw, sep_name, r"[\s,]+" if sep_name is None else r"\s+"):
            versions.append(os.path.realpath(os.path.join(here, v.strip())))
    elif toml_vl:
        versions = [os.path.realpath(os.path.join(toml_here, v)) for v in toml_vl]
    else:
        versions.append(os.path.join(sl_abs, "versions"))
    roots = []
    raw_psp = ini_opt("prepend_sys_path")
    psp = split(expand(raw_psp), path_sep, r"[\s,]+") if raw_psp else [(r, toml_here) for r in (toml_list("prepend_sys_path") or [])]
    for r in psp:
        r, base = r if isinstance(r, tuple) else (r, here)
        full = os.path.realpath(os.path.join(base, r.strip()))
        if full == project_dir or full.startswith(project_dir + os.sep):
            roots.append(os.path.relpath(full, project_dir))
    rel = lambda p: os.path.relpath(p, project_dir)
    for v in versions:
        if not (v == project_dir or v.startswith(project_dir + os.sep)):
            raise RequestError("a version location is outside the project directory")
    return {
        "scriptLocation": rel(sl_abs), "envPy": rel(os.path.join(sl_abs, "env.py")),
        "versionsDirs": [rel(v) for v in versions],
        "prependSysPath": raw_psp if raw_psp else (" ".join(toml_list("prepend_sys_path") or []) or None),
        "sysPathRoots": roots,
        "hasUrl": bool((ini_opt("sqlalchemy.url") or "").strip()),
        "config": "alembic.ini" if raw_sl is not None else "pyproject.toml",
    }


def stmt_removal_span(src, stmt):
    """Whole lines of a statement (with its trailing newline)."""
    start = src.line_starts[stmt.lineno - 1]
    end_line = stmt.end_lineno
    end = src.line_starts[end_line] if end_line < len(src.line_starts) else len(src.data)
    return start, end


def cmd_migration_prune(req):
    """Keep in upgrade()/downgrade() only the statements whose operations all touch `keepTables`; the rest (model
    drift that is not the fix's own change) is removed. Returns the operations kept and removed."""
    path = req["file"]
    keep = set(req.get("keepTables") or [])
    apply = bool(req.get("apply", True))
    src = Source(path, os.path.basename(path))
    kept, removed = {"upgrade": [], "downgrade": []}, {"upgrade": [], "downgrade": []}
    for fn in src.tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name in ("upgrade", "downgrade")):
            continue
        remaining = 0
        for stmt in fn.body:
            ops = op_calls(stmt)
            if not ops:
                if not (isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))):
                    remaining += 1
                continue
            if all(o.get("table") in keep for o in ops):
                kept[fn.name] += ops
                remaining += 1
            else:
                removed[fn.name] += ops
                s0, e0 = stmt_removal_span(src, stmt)
                src.edit(s0, e0, "", f"{fn.name}: drop {', '.join(o['op'] + ' ' + str(o.get('table')) for o in ops)}")
        if remaining == 0 and removed[fn.name]:
            indent = " " * fn.body[0].col_offset
            at = src.line_starts[fn.body[-1].end_lineno] if fn.body[-1].end_lineno < len(src.line_starts) else len(src.data)
            src.insert(at, f"{indent}pass\n", "empty body")
    changed = write_sources([src], apply)
    return {"kept": kept, "removed": removed, "empty": not kept["upgrade"], "changed": bool(changed)}


# ----------------------------------------------------------------------------------------------------------
# Database commands (SQLAlchemy; the URL comes on stdin and is never echoed with its password)


def _redact(msg, url):
    try:
        from sqlalchemy.engine import make_url
        pw = make_url(url).password
    except Exception:
        pw = None
    msg = str(msg)
    if pw:
        msg = msg.replace(str(pw), "***")
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", msg)


def _sync_engine(url, timeout, read_only=False):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool
    u = make_url(url)
    backend, _, driver = u.drivername.partition("+")
    if backend != "postgresql":
        raise RequestError(f"only PostgreSQL servers are supported here (got {backend})")
    if driver not in ("psycopg2", "psycopg"):
        driver = "psycopg2" if has_module("psycopg2") else "psycopg"
    u = u.set(drivername=f"postgresql+{driver}")
    args = {"connect_timeout": int(timeout)}
    if read_only:
        args["options"] = "-c default_transaction_read_only=on"  # the server refuses every write in this session
    return create_engine(u, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=args)


def _classify_db_error(msg):
    m = msg.lower()
    if "connection refused" in m or "connect call failed" in m:
        return "refused"
    if "timeout" in m or "timed out" in m:
        return "timeout"
    if "starting up" in m or "shutting down" in m or "in recovery" in m:
        return "starting"
    if "could not translate host name" in m or "name or service not known" in m:
        return "dns"
    if "authentication" in m or "password" in m:
        return "auth"
    if "does not exist" in m:
        return "missing"
    return "other"


DBNAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def cmd_db(cmd, req):
    from sqlalchemy import text, inspect
    url = req["url"]
    timeout = req.get("timeoutSeconds", 5)
    try:
        eng = _sync_engine(url, timeout, read_only=cmd in ("db-state", "db-probe"))
        try:
            with eng.connect() as conn:
                if cmd == "db-probe":
                    v = conn.execute(text("select current_setting('server_version')")).scalar()
                    return {"ok": True, "serverVersion": v}
                if cmd in ("db-create", "db-drop"):
                    name = req["name"]
                    if not DBNAME_RE.match(name):
                        raise RequestError(f"bad scratch database name {name!r}")
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    if cmd == "db-create":
                        conn.execute(text(f'CREATE DATABASE "{name}"'))
                    return {"ok": True, "name": name}
                if cmd == "db-state":
                    insp = inspect(conn)
                    vt = req.get("versionTable") or "alembic_version"
                    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", vt):
                        raise RequestError(f"bad version table name {vt!r}")
                    tables = sorted(insp.get_table_names(schema=req.get("schema")))
                    revisions = None
                    if vt in tables:
                        revisions = sorted(r[0] for r in conn.execute(text(f'SELECT version_num FROM "{vt}"')))
                    ro = conn.execute(text("select current_setting('transaction_read_only')")).scalar()
                    return {"ok": True, "versionTable": vt, "hasVersionTable": revisions is not None, "revisions": revisions,
                            "tables": [t for t in tables if t != vt], "readOnly": ro == "on"}
                if cmd == "db-columns":
                    insp = inspect(conn)
                    tables = {}
                    for t in sorted(insp.get_table_names(schema=req.get("schema"))):
                        if t == "alembic_version":
                            continue
                        tables[t] = [c["name"] for c in insp.get_columns(t, schema=req.get("schema"))]
                    return {"ok": True, "tables": tables}
        finally:
            eng.dispose()
    except RequestError:
        raise
    except Exception as e:
        msg = _redact(f"{type(e).__name__}: {e}", url)
        return {"ok": False, "error": msg.strip(), "kind": _classify_db_error(msg)}
    raise RequestError(f"unknown db command {cmd}")


def cmd_info(_req):
    try:
        from importlib.metadata import version
        alembic_v = version("alembic")
    except Exception:
        alembic_v = None
    return {"python": sys.version.split()[0], "sqlalchemy": sa_version(), "alembic": alembic_v,
            "drivers": {m: has_module(m) for m in ("psycopg2", "psycopg", "asyncpg", "greenlet")}}


COMMANDS = {
    "info": cmd_info,
    "project": cmd_project,
    "reserved-scan": cmd_reserved_scan,
    "reserved-fix": cmd_reserved_fix,
    "env-fix": cmd_env_fix,
    "imports-fix": cmd_imports_fix,
    "model-tables": cmd_model_tables,
    "migration-ops": cmd_migration_ops,
    "db-probe": lambda r: cmd_db("db-probe", r),
    "db-create": lambda r: cmd_db("db-create", r),
    "db-drop": lambda r: cmd_db("db-drop", r),
    "db-columns": lambda r: cmd_db("db-columns", r),
    "db-state": lambda r: cmd_db("db-state", r),
    "migration-prune": cmd_migration_prune,
}


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(json.dumps({"error": f"usage: alembic_tool.py {{{'|'.join(sorted(COMMANDS))}}} < request.json"}))
        return 2
    try:
        raw = sys.stdin.read()
        req = json.loads(raw) if raw.strip() else {}
        if not isinstance(req, dict):
            raise RequestError("the request must be a JSON object")
        out = COMMANDS[argv[1]](req)
    except (RequestError, KeyError, OSError, SyntaxError, json.JSONDecodeError) as e:
        msg = str(e) if not isinstance(e, KeyError) else f"missing request field {e}"
        print(json.dumps({"error": msg, "type": type(e).__name__}))
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
