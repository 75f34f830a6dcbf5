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

With "check": {"code": CODE, "args": [...]} in the request, the target's check `python -c CODE` runs first, IN THIS
PROCESS, as `python -c` would run it (sys.argv, sys.path[0] = "", a fresh __main__, its own stdout and stderr
captured, its exit status from SystemExit or an uncaught exception, printed the way Python prints it), with the
instrumentation installed only when the check itself imports sqlalchemy.orm (nothing is imported ahead of it). A
line {"checkDone": true, "exitCode": N} is written as soon as the check ends (so the caller can hold the check to its
own timeout), then the probe reads what the check left: what was mapped before the first configure, and where a
configure failed. The answer carries "check": {exitCode, stdout, stderr, inProcess}; "inProcess": false (threads or
atexit callbacks left behind, an interrupt) says the check must be run on its own, and "probeFallback" (the models
package was not imported by the check, a failure the instrumentation did not see) that the probe must.

Target code is untrusted: anything it prints goes to stderr (stdout carries only the answer). Errors of the probe
itself: {"ok": false, "error": {"code", "message", "retryable"}} and exit status 2.
"""
import ast
import atexit
import builtins
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
import traceback
import types
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


HERE_FILE = os.path.realpath(__file__)


class State:
    """What the instrumentation saw: the mapper/property being configured, what was mapped before the first
    configure, and the first exception raised while configuring (with its mapper and property)."""

    def __init__(self, root):
        self.root = root
        self.current = {"mapper": None, "prop": None}
        self.snapshot = None
        self.failure = None
        self.instrumented = False


def instrument(state):
    """Wrap MapperProperty.init and Mapper._post_configure_properties (once)."""
    if state.instrumented:
        return
    from sqlalchemy.orm.interfaces import MapperProperty
    from sqlalchemy.orm.relationships import RelationshipProperty

    mapperlib = sys.modules["sqlalchemy.orm.mapper"]
    Mapper = mapperlib.Mapper
    cur = state.current
    orig_init = MapperProperty.init
    orig_post = Mapper._post_configure_properties

    def init(self):
        cur["prop"] = self
        orig_init(self)
        cur["prop"] = None

    def post(self):
        if state.snapshot is None:  # the first mapper configured: nothing initialised yet, no backref made
            state.snapshot = snapshot(state.root, mapperlib, RelationshipProperty)
        cur["mapper"], cur["prop"] = self, None
        try:
            orig_post(self)
        except BaseException as e:
            if state.failure is None:
                state.failure = (e, cur["mapper"], cur["prop"])
            raise
        cur["mapper"] = None

    MapperProperty.init = init
    Mapper._post_configure_properties = post
    state.instrumented = True


class OrmImportHook:
    """A meta path finder that instruments sqlalchemy.orm right after the target's own code imports it."""

    def __init__(self, state):
        self.state = state
        self.busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "sqlalchemy.orm" or self.busy:
            return None
        self.busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, state = spec.loader, self.state
        orig_exec = loader.exec_module

        def exec_module(module):
            orig_exec(module)
            try:
                instrument(state)
            except Exception:
                pass

        loader.exec_module = exec_module
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        return spec


def describe_configure(e, root, sources, m, p):
    f = describe(e, root, "configure")
    m = m or getattr(p, "parent", None)
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
    return f


def loaded_modules(root, models_abs):
    loaded = set()
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        r = rel_to(models_abs, f) if isinstance(f, str) else None
        if r is not None:
            loaded.add(rel_to(root, f))
    not_imported = []
    for dirpath, dirnames, filenames in os.walk(models_abs):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                r = rel_to(root, os.path.join(dirpath, fn))
                if r and r not in loaded:
                    not_imported.append(r)
    return sorted(loaded), not_imported[:200]


def read_request():
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
    return req, root, models_abs


def print_uncaught(e):
    """What Python prints for an uncaught exception (sys.excepthook), without this file's frames."""
    if sys.excepthook is not sys.__excepthook__:
        sys.excepthook(type(e), e, e.__traceback__)
        return
    te = traceback.TracebackException(type(e), e, e.__traceback__, compact=True)
    seen = set()
    stack = [te]
    while stack:
        t = stack.pop()
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        t.stack = traceback.StackSummary.from_list([f for f in t.stack if os.path.realpath(f.filename or "") != HERE_FILE])
        stack.extend([t.__cause__, t.__context__])
    sys.stderr.write("".join(te.format()))


def run_check(code, args):
    """The check `python -c code args...` in this process; (exit status, in process, stdout, stderr, ms)."""
    sys.argv = ["-c"] + [str(a) for a in args]
    sys.path[0:1] = [""]  # `python -c`: the current folder first, not this script's folder
    main_mod = types.ModuleType("__main__")
    main_mod.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main_mod
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out_f.fileno(), 1)
    os.dup2(err_f.fileno(), 2)
    callbacks = atexit._ncallbacks()
    registered = []
    register = atexit.register

    def recording_register(func, *a, **kw):
        registered.append(func)
        return register(func, *a, **kw)

    atexit.register = recording_register
    status, in_process = 0, True
    t0 = time.monotonic()
    try:
        exec(compile(code, "<string>", "exec"), main_mod.__dict__)
    except SystemExit as e:
        c = e.code
        if c is None:
            status = 0
        elif isinstance(c, int):
            status = c & 0xFF
        else:
            try:
                sys.stderr.write("%s\n" % (c,))
            except Exception:
                pass
            status = 1
    except KeyboardInterrupt:
        status, in_process = 1, False
    except BaseException as e:
        status = 1
        try:
            print_uncaught(e)
        except Exception:
            in_process = False
    ms = int((time.monotonic() - t0) * 1000)
    # What Python would still do at exit (join threads, atexit callbacks) cannot happen here: run it on its own.
    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        in_process = False
    # The standard library's own exit work is harmless at the real exit: logging's shutdown (flushes handlers; any
    # import of logging registers it) and weakref.finalize's (the first finalizer registers it).
    atexit.register = register
    import weakref

    harmless = [getattr(sys.modules.get("logging"), "shutdown", None), weakref.finalize._exitfunc]
    if atexit._ncallbacks() - callbacks != len(registered) or any(not any(f == h for h in harmless) for f in registered):
        in_process = False
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    texts = []
    for f in (out_f, err_f):
        f.seek(0)
        texts.append(f.read().decode("utf-8", "replace"))
        f.close()
    return status, in_process, texts[0], texts[1], ms


def main_with_check(req, root, models_abs, check):
    global _STDOUT
    cwd = os.path.realpath(os.getcwd())
    state = State(root)
    shown = []
    orig_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        shown.append(("%s: %s" % (category.__name__, str(message)))[:500])
        return orig_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    sys.meta_path.insert(0, OrmImportHook(state))
    status, in_process, c_out, c_err, ms = run_check(str(check.get("code") or ""), check.get("args") or [])
    # The answer's channel: the real stdout, kept aside; from here on, anything printed goes to stderr.
    _STDOUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _STDOUT.write(json.dumps({"checkDone": True, "exitCode": status, "durationMs": ms}) + "\n")
    _STDOUT.flush()
    for h in list(sys.meta_path):
        if isinstance(h, OrmImportHook):
            sys.meta_path.remove(h)

    out = {"ok": True, "check": {"exitCode": status, "inProcess": in_process, "stdout": c_out[-20000:], "stderr": c_err[-20000:], "durationMs": ms}}
    name, _entry = package_name(root, models_abs, cwd)
    sa = sys.modules.get("sqlalchemy")
    if not in_process:
        out["probeFallback"] = "the check did not end within the process"
    elif sa is None or not state.instrumented:
        out["probeFallback"] = "the check did not import sqlalchemy.orm"
    elif sys.modules.get(name) is None:
        out["probeFallback"] = "the check did not import the models package %s" % name
    elif status != 0 and state.failure is None and state.snapshot is not None:
        out["probeFallback"] = "the check failed configuring where the probe does not see it"
    if "probeFallback" in out:
        _answer(out)

    mapperlib = sys.modules["sqlalchemy.orm.mapper"]
    from sqlalchemy.orm.relationships import RelationshipProperty

    sources = Sources()
    out.update({"sqlalchemy": sa.__version__, "python": sys.version.split()[0], "package": name, "imported": True, "configured": False, "failure": None})
    caught = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if state.failure is None:
            # Configure whatever the check left unconfigured (a no-op when it configured everything).
            if state.snapshot is None:
                state.snapshot = snapshot(root, mapperlib, RelationshipProperty)
            try:
                sa.orm.configure_mappers()
                out["configured"] = True
            except BaseException as e:
                state.failure = state.failure or (e, state.current["mapper"], state.current["prop"])
        if state.failure is not None:
            e, m, p = state.failure
            out["failure"] = describe_configure(e, root, sources, m, p)
    classes, rels, declared = state.snapshot
    out["mapped"] = {"classes": classes, "relationships": rels, "declaredIn": declared, "complete": True}
    out["warnings"] = (shown + [("%s: %s" % (w.category.__name__, str(w.message)))[:500] for w in caught])[:20]
    out["modules"], out["notImported"] = loaded_modules(root, models_abs)
    _answer(out)


def main():
    global _STDOUT
    req, root, models_abs = read_request()
    if req.get("check"):
        return main_with_check(req, root, models_abs, req["check"])
    cwd = os.path.realpath(os.getcwd())

    # Only the answer goes to the real stdout; the target's prints go to stderr.
    _STDOUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # sys.path as `python -c` in the check's folder has it (not this script's folder).
    here = os.path.dirname(HERE_FILE)
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here or p == ""]
    name, path_entry = package_name(root, models_abs, cwd)
    if path_entry not in sys.path:
        sys.path.insert(0, path_entry)

    try:
        import sqlalchemy
        import sqlalchemy.orm  # noqa: F401
    except Exception as e:  # the target's runtime has no SQLAlchemy: nothing to probe
        fail("no_sqlalchemy", "the target's python cannot import sqlalchemy: %s" % e)
    from sqlalchemy.orm.relationships import RelationshipProperty

    mapperlib = sys.modules["sqlalchemy.orm.mapper"]
    state = State(root)
    instrument(state)
    sources = Sources()

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
                out["failure"] = describe_configure(e, root, sources, state.current["mapper"], state.current["prop"])
    out["warnings"] = [("%s: %s" % (w.category.__name__, str(w.message)))[:500] for w in caught[:20]]
    out["modules"], out["notImported"] = loaded_modules(root, models_abs)
    _answer(out)


if __name__ == "__main__":
    main()
