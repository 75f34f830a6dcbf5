#!/usr/bin/env python3
"""Runtime probe of a target's SQLAlchemy models, run by runwright IN THE TARGET'S RUNTIME (the target's python,
the check's working folder and environment), as a subprocess: one JSON request on stdin, one JSON answer on stdout.

Unlike sqla_tool.py (which only reads source with ast), this imports the target's models package the way the
service does -- its __init__ runs, so models loaded at run time by importlib/pkgutil loaders are imported too -- and
asks SQLAlchemy itself what is mapped and what fails:

  {"root": CHECKOUT, "models_dir": "backend/app/models"}
    -> {"ok": true, "sqlalchemy": "2.0.54", "package": "app.models", "imported": true, "configured": false,
        "failure": {"phase": "configure", "mapper": {"class": "Organization", "table": "organizations"},
                    "property": "Organization.feature_flags", "exceptionClass": "InvalidRequestError",
                    "exceptionType": "sqlalchemy.exc.InvalidRequestError", "message": "...", "attributes": {...},
                    "file": "backend/app/models/organization.py", "line": 14, "traceback": [...]},
        "mapped": {"classes": ["Organization", ...], "relationships": ["Organization.users", ...], "complete": true},
        "modules": [...], "notImported": [...], "warnings": [...]}

`mapped` is read from the registries BEFORE configure_mappers() (mapper._props holds every relationship declared,
configured or not), so it can be compared between a failing base and a fixed commit. `complete` is false when the
package could not even be imported (then only what was declared before the error is listed).

Instrumentation: MapperProperty.init and Mapper._post_configure_properties are wrapped so the probe knows which
mapper and which property SQLAlchemy was configuring when it raised; that property is mapped back to the statement
that declares it (ast of the class's own file, along the MRO, so @declared_attr mixins are found).

Target code is untrusted: anything it prints goes to stderr (stdout carries only the answer). Errors of the probe
itself: {"ok": false, "error": {"code", "message", "retryable"}} and exit status 2.
"""
import ast
import importlib
import json
import os
import sys
import traceback
import warnings

MAX_MESSAGE = 4000


def fail(code, message, retryable=False):
    out = {"ok": False, "error": {"code": code, "message": message, "retryable": retryable}}
    _answer(out, 2)


_STDOUT = None


def _answer(obj, status=0):
    stream = _STDOUT or sys.stdout
    stream.write(json.dumps(obj))
    stream.write("\n")
    stream.flush()
    sys.exit(status)


def inside(path, root):
    try:
        p = os.path.realpath(path)
        return os.path.commonpath([p, root]) == root
    except (ValueError, TypeError):
        return False


def rel_to(root, path):
    if not path or not inside(path, root):
        return None
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


def package_name(root, models_abs, cwd):
    """The import name of the models folder as the check sees it, and the folder that must be on sys.path for it."""
    rel = os.path.relpath(models_abs, cwd)
    parts = rel.replace(os.sep, "/").split("/")
    # From the check's folder when every folder on the way is a regular package (`python -c "import app.models"`
    # in backend/); else from above the outermost package around the models (a check run from the repo root).
    regular = all(os.path.isfile(os.path.join(cwd, *parts[: i + 1], "__init__.py")) for i in range(len(parts)))
    if rel != "." and ".." not in parts and all(p.isidentifier() for p in parts) and regular:
        return ".".join(parts), cwd
    parts = []
    d = models_abs
    while os.path.isfile(os.path.join(d, "__init__.py")) and inside(d, root) and d != root:
        parts.insert(0, os.path.basename(d))
        d = os.path.dirname(d)
    if not parts:
        parts = [os.path.basename(models_abs)]
        d = os.path.dirname(models_abs)
    return ".".join(parts), d


class Sources:
    """ast of files by path, parsed once."""

    def __init__(self):
        self.trees = {}

    def tree(self, path):
        if path not in self.trees:
            try:
                with open(path, "r", encoding="utf-8-sig") as f:
                    self.trees[path] = ast.parse(f.read())
            except (OSError, SyntaxError, ValueError):
                self.trees[path] = None
        return self.trees[path]

    def class_node(self, path, cls):
        """The class statement of cls: by qualified name from the top, else the first class of that name."""
        t = self.tree(path)
        if t is None:
            return None
        body, node = t.body, None
        for n in getattr(cls, "__qualname__", cls.__name__).split("."):
            node = next((st for st in body if isinstance(st, ast.ClassDef) and st.name == n), None)
            if node is None:
                break
            body = node.body
        if node is not None:
            return node
        return next((st for st in ast.walk(t) if isinstance(st, ast.ClassDef) and st.name == cls.__name__), None)

    def attr_line(self, path, cls, attr):
        """Line of the statement in cls's body (or a module-level `Cls.attr = ...`) that declares attr."""
        node = self.class_node(path, cls)
        if node is not None:
            for st in node.body:
                if isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in st.targets):
                    return st.lineno
                if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.target.id == attr:
                    return st.lineno
                if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == attr:
                    return st.decorator_list[0].lineno if st.decorator_list else st.lineno
        t = self.tree(path)
        if t is not None:
            for st in t.body:
                if isinstance(st, ast.Assign):
                    for tg in st.targets:
                        if isinstance(tg, ast.Attribute) and tg.attr == attr and isinstance(tg.value, ast.Name) and tg.value.id == cls.__name__:
                            return st.lineno
        return None


def source_file(cls):
    mod = sys.modules.get(getattr(cls, "__module__", None) or "")
    f = getattr(mod, "__file__", None)
    return os.path.realpath(f) if f else None


def locate(root, sources, cls, attr=None):
    """(file, line, declaring class) of attr's declaration along cls's MRO (mixins with @declared_attr too), else
    of the class."""
    if cls is None:
        return None, None, None
    if attr:
        for k in getattr(cls, "__mro__", (cls,)):
            f = source_file(k)
            if not f or not inside(f, root):
                continue
            line = sources.attr_line(f, k, attr)
            if line:
                return rel_to(root, f), line, k.__name__
    f = source_file(cls)
    if f and inside(f, root):
        node = sources.class_node(f, cls)
        return rel_to(root, f), (node.lineno if node is not None else None), None
    return None, None, None


def frames_in(root, tb):
    out = []
    for fr in traceback.extract_tb(tb):
        r = rel_to(root, fr.filename) if fr.filename and not fr.filename.startswith("<") else None
        out.append({"file": r or fr.filename, "line": fr.lineno, "name": fr.name, "inRepo": r is not None})
    return out[-30:]


def exc_attributes(e):
    out = {}
    for k, v in list(vars(e).items())[:30] if hasattr(e, "__dict__") else []:
        if k.startswith("__"):
            continue
        if v is None or isinstance(v, (bool, int, float)):
            out[k] = v
        elif isinstance(v, str):
            out[k] = v[:500]
        else:
            out[k] = repr(v)[:500]
    if getattr(e, "args", None):
        out["args"] = [a if isinstance(a, (str, int, float, bool)) or a is None else repr(a)[:500] for a in e.args[:5]]
        out["args"] = [a[:1000] if isinstance(a, str) else a for a in out["args"]]
    return out


def describe(e, root, phase):
    t = type(e)
    msg = str(e)
    d = {
        "phase": phase,
        "mapper": None,
        "property": None,
        "exceptionClass": t.__name__,
        "exceptionType": "%s.%s" % (t.__module__, t.__qualname__),
        "message": msg[:MAX_MESSAGE],
        "attributes": exc_attributes(e),
        "file": None,
        "line": None,
        "traceback": frames_in(root, e.__traceback__),
    }
    if isinstance(e, SyntaxError) and e.filename:
        d["file"], d["line"] = rel_to(root, e.filename), e.lineno
    else:
        in_repo = [f for f in d["traceback"] if f["inRepo"]]
        if in_repo:
            d["file"], d["line"] = in_repo[-1]["file"], in_repo[-1]["line"]
    return d


def snapshot(root, mapperlib, relcls):
    """Mapped classes, their relationships as Class.attr, and for inherited ones the class whose body declares
    them (a mixin's @declared_attr, a mapped parent): {"Contract.owner": "OwnedMixin"}."""
    classes, rels, declared = set(), set(), {}
    for reg in list(mapperlib._all_registries()):
        for m in list(reg.mappers):
            cls = m.class_
            f = source_file(cls)
            if f and not inside(f, root):
                continue  # mapped by an installed library, not by the target
            classes.add(cls.__name__)
            for key, prop in list(m._props.items()):
                if isinstance(prop, relcls):
                    name = "%s.%s" % (cls.__name__, key)
                    rels.add(name)
                    owner = next((k for k in cls.__mro__[1:] if key in vars(k)), None)
                    if owner is not None and owner.__name__ != cls.__name__:
                        declared[name] = owner.__name__
    return sorted(classes), sorted(rels), declared


def main():
    global _STDOUT
    try:
        req = json.loads(sys.stdin.read() or "{}")
    except ValueError as e:
        fail("bad_request", "request is not JSON: %s" % e)
    root = os.path.realpath(req.get("root") or "")
    models_dir = req.get("models_dir") or ""
    if not root or not os.path.isdir(root):
        fail("bad_request", "root is not a folder")
    if not models_dir or os.path.isabs(models_dir) or ".." in models_dir.replace("\\", "/").split("/"):
        fail("unsafe_path", "models_dir must be a relative path inside the repository: %r" % models_dir)
    models_abs = os.path.realpath(os.path.join(root, models_dir))
    if not inside(models_abs, root):
        fail("unsafe_path", "models folder leaves the repository: %r" % models_dir)
    if not os.path.isdir(models_abs):
        fail("not_found", "models folder not found: %r" % models_dir)
    cwd = os.path.realpath(os.getcwd())

    # Only the answer goes to the real stdout; the target's prints go to stderr.
    _STDOUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # sys.path as `python -c` in the check's folder has it (not this script's folder).
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here or p == ""]
    name, path_entry = package_name(root, models_abs, cwd)
    if path_entry not in sys.path:
        sys.path.insert(0, path_entry)

    try:
        import sqlalchemy
        import sqlalchemy.orm  # noqa: F401
        from sqlalchemy.orm.interfaces import MapperProperty
        from sqlalchemy.orm.relationships import RelationshipProperty
    except Exception as e:  # the target's runtime has no SQLAlchemy: nothing to probe
        fail("no_sqlalchemy", "the target's python cannot import sqlalchemy: %s" % e)
    mapperlib = sys.modules["sqlalchemy.orm.mapper"]
    Mapper = mapperlib.Mapper

    sources = Sources()
    current = {"mapper": None, "prop": None}
    orig_init = MapperProperty.init
    orig_post = Mapper._post_configure_properties

    def init(self):
        current["prop"] = self
        orig_init(self)
        current["prop"] = None

    def post(self):
        current["mapper"], current["prop"] = self, None
        orig_post(self)
        current["mapper"] = None

    MapperProperty.init = init
    Mapper._post_configure_properties = post

    out = {"ok": True, "sqlalchemy": sqlalchemy.__version__, "python": sys.version.split()[0], "package": name,
           "imported": False, "configured": False, "failure": None, "warnings": []}
    caught = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importlib.import_module(name)
            out["imported"] = True
        except BaseException as e:  # SystemExit too: target code
            out["failure"] = describe(e, root, "import")
        classes, rels, declared = snapshot(root, mapperlib, RelationshipProperty)
        out["mapped"] = {"classes": classes, "relationships": rels, "declaredIn": declared, "complete": out["imported"]}
        if out["imported"]:
            try:
                sqlalchemy.orm.configure_mappers()
                out["configured"] = True
            except BaseException as e:
                f = describe(e, root, "configure")
                m = current["mapper"] or getattr(current["prop"], "parent", None)
                p = current["prop"]
                cls = getattr(m, "class_", None)
                if cls is not None:
                    table = getattr(getattr(m, "local_table", None), "name", None)
                    f["mapper"] = {"class": cls.__name__, "table": table}
                    key = getattr(p, "key", None) if p is not None else None
                    if key:
                        f["property"] = "%s.%s" % (cls.__name__, key)
                        f["propertyKind"] = type(p).__name__
                    file, line, declared_in = locate(root, sources, cls, key)
                    if file:
                        f["file"], f["line"] = file, line
                    f["declaredIn"] = declared_in
                out["failure"] = f
    out["warnings"] = [("%s: %s" % (w.category.__name__, str(w.message)))[:500] for w in caught[:20]]
    loaded = set()
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        r = rel_to(models_abs, f) if f else None
        if r is not None:
            loaded.add(rel_to(root, f))
    out["modules"] = sorted(loaded)
    not_imported = []
    for dirpath, dirnames, filenames in os.walk(models_abs):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                r = rel_to(root, os.path.join(dirpath, fn))
                if r and r not in loaded:
                    not_imported.append(r)
    out["notImported"] = not_imported[:200]
    _answer(out)


if __name__ == "__main__":
    main()
