"""The wasmig Python runtime: the app `componentize-py` snapshots into the
one component that runs every Python migration.

At build time it imports the SDK and the standard-library modules a
migration may use (the component carries no file system, so a module not
imported here cannot be imported later). At run time the host hands it the
migration's files; it imports `migration.py` from them and calls `up` or
`down` of its `Migration` class, or the module's own `up(db, env)` and
`down(db, env)` functions.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import random
import sys
import traceback

# The standard library a migration may import: imported now, so it is part
# of the snapshot. A module missing from this interpreter build is skipped.
BUNDLED = (
    "abc", "array", "base64", "binascii", "bisect", "calendar", "collections",
    "collections.abc", "contextlib", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq",
    "hmac", "html", "io", "ipaddress", "itertools", "json", "math", "numbers",
    "operator", "pprint", "random", "re", "socket", "statistics", "string", "struct",
    "textwrap", "time", "typing", "unicodedata", "uuid", "zlib",
    # Codecs are looked up by importing them: the common ones come along.
    "encodings.ascii", "encodings.latin_1", "encodings.utf_8", "encodings.utf_8_sig",
    "encodings.utf_16", "encodings.utf_32", "encodings.cp1252", "encodings.idna",
    "encodings.punycode", "encodings.hex_codec", "encodings.base64_codec",
)
AVAILABLE = []
for _name in BUNDLED:
    try:
        importlib.import_module(_name)
        AVAILABLE.append(_name)
    except ImportError:
        pass

import wit_world  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.imports import source  # noqa: E402

import wasmig_guest  # noqa: E402
from wasmig_guest import Db, Env, Migration  # noqa: E402

# The build's environment variables are not the migration's: it sees none.
os.environ.clear()

# Tracebacks show the SDK's lines from the snapshot; every other file's
# lines are left out rather than read (there is no file system to read).
for _module in list(sys.modules.values()):
    _file = getattr(_module, "__file__", None) or ""
    if _module.__name__.startswith("wasmig_guest") and _file.endswith(".py"):
        _lines = linecache.getlines(_file)
        linecache.cache[_file] = (sum(map(len, _lines)), None, _lines, _file)


def _cached_lines(filename, module_globals=None):
    entry = linecache.cache.get(filename)
    return list(entry[2]) if entry is not None and len(entry) > 2 else []


def _cached_line(filename, lineno, module_globals=None):
    lines = _cached_lines(filename)
    return lines[lineno - 1] if 1 <= lineno <= len(lines) else ""


linecache.getlines = _cached_lines
linecache.getline = _cached_line
linecache.checkcache = lambda filename=None: None
linecache.updatecache = lambda filename, module_globals=None: []
linecache.lazycache = lambda filename, module_globals=None: False

MODULE = "migration"


class _Sources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the migration's own modules from the files the host handed over."""

    def __init__(self, files, origin):
        self.modules = {}
        for path, text in files:
            if not path.endswith(".py"):
                continue
            parts = path[: -len(".py")].split("/")
            package = parts[-1] == "__init__"
            if package:
                parts = parts[:-1]
            if not parts:
                continue
            filename = f"{origin}/{path}"
            self.modules[".".join(parts)] = (filename, text, package)
            # A folder without __init__.py is a package all the same.
            for end in range(1, len(parts)):
                folder = ".".join(parts[:end])
                init = f"{origin}/{'/'.join(parts[:end])}/__init__.py"
                self.modules.setdefault(folder, (init, "", True))
            # Tracebacks show the lines without reading a file.
            linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)

    def find_spec(self, fullname, path=None, target=None):
        entry = self.modules.get(fullname)
        if entry is None:
            return None
        filename, _, package = entry
        return importlib.util.spec_from_loader(
            fullname, self, origin=filename, is_package=package
        )

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        filename, text, package = self.modules[module.__name__]
        module.__file__ = filename
        if package:
            module.__path__ = []
        exec(compile(text, filename, "exec", dont_inherit=True), module.__dict__)


class _Refuse(importlib.abc.MetaPathFinder):
    """Names what the runtime carries instead of reaching for a file system."""

    def find_spec(self, fullname, path=None, target=None):
        raise ModuleNotFoundError(
            f"No module named {fullname!r} in the wasmig Python runtime: a migration can "
            f"import its own .py files (beside migration.py) and these standard modules: "
            f"{', '.join(AVAILABLE)}",
            name=fullname,
        )


# What the sandbox would stop (ending the migration) is refused here first,
# as an exception the migration may catch and a traceback can show.
_FILE_EVENTS = frozenset((
    "open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename",
    "os.rmdir", "os.chdir", "os.truncate", "os.utime", "os.chmod", "shutil.copyfile",
))


def _refuse_files(event, args):
    if event in _FILE_EVENTS:
        target = args[0] if args else ""
        raise PermissionError(
            f"{event}({target!r}) refused: a migration has no file system (wasmig sandbox)"
        )


def _install(files, origin):
    finder = _Sources(files, origin)
    for name in finder.modules:
        if "." not in name and name in sys.modules:
            raise ImportError(
                f"{origin}/{name}.py has the name of a module the runtime already carries "
                f"({name!r}); rename it"
            )
    sys.addaudithook(_refuse_files)
    sys.meta_path[:] = [
        finder,
        importlib.machinery.BuiltinImporter,
        importlib.machinery.FrozenImporter,
        _Refuse(),
    ]
    sys.path_hooks[:] = []
    sys.path_importer_cache.clear()


def _load():
    """The migration: an instance of its Migration class, or its module."""
    origin = source.origin()
    files = source.files()
    _install(files, origin)
    if not any(path == f"{MODULE}.py" for path, _ in files):
        raise LookupError(f"{origin} has no {MODULE}.py")
    module = importlib.import_module(MODULE)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Migration)
        and value is not Migration
        and value.__module__ == MODULE
    ]
    if len(classes) > 1:
        names = ", ".join(c.__name__ for c in classes)
        raise TypeError(f"{origin}/{MODULE}.py defines several Migration classes ({names}): keep one")
    if classes:
        return classes[0]()
    if callable(getattr(module, "up", None)):
        return module
    raise TypeError(
        f"{origin}/{MODULE}.py defines no Migration: subclass wasmig_guest.Migration "
        "(or define up(db, env) and down(db, env) functions)"
    )


def _failure(error: BaseException) -> str:
    """The traceback from the migration's own first frame on."""
    origin = source.origin()
    tb = error.__traceback__
    first = tb
    while first is not None and not first.tb_frame.f_code.co_filename.startswith(origin + "/"):
        first = first.tb_next
    shown = traceback.TracebackException(
        type(error), error, first if first is not None else tb, compact=True
    )
    _without_carets(shown, set())
    if first is not None:
        # The SDK's and the runtime's own frames below the migration's say
        # nothing new.
        own = (os.path.dirname(wasmig_guest.__file__) + "/", __file__)
        while len(shown.stack) > 1 and shown.stack[-1].filename.startswith(own):
            shown.stack.pop()
    if first is None:
        # Nothing of the migration's own ran (a syntax error, a missing
        # module, a bad signature): the exception says all.
        return "".join(shown.format_exception_only()).rstrip("\n")
    parts = list(shown.format())
    if parts and parts[0].startswith("Traceback"):
        parts[0] = "Python traceback (most recent call last):\n"
    return "".join(parts).rstrip("\n")


def _without_carets(shown, seen):
    """Drops column positions: the `^^^` markers would recompile each line."""
    if id(shown) in seen:
        return
    seen.add(id(shown))
    for frame in shown.stack:
        frame.colno = None
        frame.end_colno = None
    for linked in (shown.__cause__, shown.__context__):
        if linked is not None:
            _without_carets(linked, seen)


def _run(direction: str) -> None:
    try:
        # The host's random stream is seeded from the migration's checksum:
        # `random` draws from it (at import time too), not from the state
        # frozen when the runtime was built.
        random.seed(int.from_bytes(os.urandom(32), "big"))
        migration = _load()
        step = getattr(migration, direction, None)
        if step is None:
            raise TypeError(f"the migration has no {direction}(db, env)")
        returned = step(Db(), Env())
        if returned is not None:
            raise TypeError(
                f"{direction}(db, env) returned {type(returned).__name__}: it must run to the "
                "end and return None (a generator or an async def runs nothing)"
            )
    except BaseException as error:  # noqa: BLE001 - everything fails the migration
        raise Err(_failure(error))


class WitWorld(wit_world.WitWorld):
    def up(self) -> None:
        _run("up")

    def down(self) -> None:
        _run("down")

    def check(self) -> None:
        try:
            _load()
        except BaseException as error:  # noqa: BLE001
            raise Err(_failure(error))


__all__ = ["WitWorld", "wasmig_guest"]
