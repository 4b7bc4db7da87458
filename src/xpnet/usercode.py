"""A user's own component, named on the command line (``xpnet gradcheck FILE.py:Class``):
loaded from its file or module, constructed, and its errors reported at their line in the
user's code rather than as xpnet's traceback.

A file is loaded under a private module name (``_xpnet_user_<stem>_<hash>``), so a file
called ``inspect.py`` or ``json.py`` shadows nothing, and compiled from its source every
time, never from a cached ``.pyc``: a file edited within the same second (the usual
fix-and-recheck loop) must not run its old code.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from . import validate
from .errors import UserCodeError

__all__ = ["ARG_DEFAULTS", "construct", "load_class", "source_of", "user_error"]

#: Values for constructor arguments a user component requires, by common names.
ARG_DEFAULTS = {"n_in": 3, "n_inputs": 3, "n_out": 4, "n_neurons": 4, "n_outputs": 4,
                "rate": 0.3, "drop_rate": 0.3}

_PACKAGE = Path(__file__).resolve().parent


def load_class(spec: str, builtins: list[str] | tuple[str, ...] = ()) -> type:
    """The class ``spec`` names: ``package.module:ClassName`` or ``path/to/file.py:Class``.

    Raises
    ------
    UserCodeError
        (``phase="load"``) when the spec, the file, the module or the class is wrong, or
        the file fails to import (its own error, at its line).
    """
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        known = f"a built-in name ({', '.join(builtins)}) or " if builtins else ""
        hint = validate.did_you_mean(spec, builtins)
        if spec.endswith(".py"):  # the file without its class
            hint = f" Name the class in it too: {spec}:ClassName."
        msg = (f"unknown component {spec!r}.{hint} Give {known}package.module:ClassName or "
               "path/to/file.py:ClassName.")
        raise UserCodeError(msg, "load")
    if Path(target).is_file() and not target.endswith(".py"):
        msg = (f"{target!r} (from {spec!r}) is a file but not Python source: components are "
               "loaded from a .py file (path/to/file.py:ClassName) or an importable module "
               "(package.module:ClassName).")
        raise UserCodeError(msg, "load")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target), spec)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            msg = (f"cannot import module {target!r} (from {spec!r}): {exc}. Check the name, "
                   f"or give the file: path/to/{target.rpartition('.')[2]}.py:{name}.")
            raise UserCodeError(msg, "load") from exc
        except Exception as exc:
            raise user_error(exc, Path(getattr(sys.modules.get(target), "__file__", "") or ""),
                             f"importing {target!r}", "load") from exc
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        found = _components(module)
        close = difflib.get_close_matches(name, found, n=1)
        fix = (f"Did you mean {target}:{close[0]}?" if close else
               f"Name one of them: {target}:{(found or ['ClassName'])[0]}.")
        msg = (f"{target!r} has no class {name!r} (its layers and losses: {found or 'none'}). "
               f"{fix}")
        raise UserCodeError(msg, "load")
    if validate.component_missing(cls):
        msg = (f"{name} is not a layer or loss: a layer needs forward and backward methods, a "
               "loss calculate (or forward) and backward (see docs/own-layer.md), e.g. "
               "subclass xpnet.nn.layers.Layer.")
        raise UserCodeError(msg, "load")
    return cls


def _components(module: ModuleType) -> list[str]:
    """The names of the layers and losses (classes with forward and backward) a module
    offers: those it lists in ``__all__`` (a package such as ``xpnet.nn`` re-exports its
    classes), else those it defines."""
    exported = getattr(module, "__all__", None)
    names = exported if exported is not None else [
        k for k, v in vars(module).items()
        if isinstance(v, type) and v.__module__ == module.__name__]
    return sorted(k for k in names if isinstance(getattr(module, k, None), type)
                  and not validate.component_missing(getattr(module, k)))


def _load_file(path: Path, spec: str) -> ModuleType:
    if not path.is_file():
        msg = f"file not found: {str(path)!r} (from {spec!r}). Check the path: ls {path}"
        raise UserCodeError(msg, "load")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    module_name = f"_xpnet_user_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if module_spec is None:
        msg = f"cannot load {str(path)!r} as Python (from {spec!r}); give a .py file."
        raise UserCodeError(msg, "load")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses and pickle look the module up
    try:
        code = compile(resolved.read_bytes(), str(resolved), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise user_error(exc, resolved, f"loading {str(path)!r}", "load") from exc
    return module


def construct(cls: type, args: dict[str, Any]) -> Any:
    """``cls(**args)``, with :data:`ARG_DEFAULTS` for required arguments not given.

    Raises
    ------
    UserCodeError
        (``phase="construct"``) when a required argument has no value, or ``__init__``
        raises (its own error, at its line).
    """
    kwargs = dict(args)
    parameters = inspect.signature(cls).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        named = [name for name, p in parameters.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [name for name in kwargs if name not in named]
        if unknown:
            takes = (f"its arguments are {', '.join(named)}" if named
                     else "it takes no arguments")
            msg = (f"{cls.__name__} has no argument {unknown[0]!r} ({takes}): drop "
                   f"--arg {unknown[0]}=... or name one of its arguments.")
            raise UserCodeError(msg, "construct")
    for name, param in parameters.items():
        if name in kwargs or param.default is not inspect.Parameter.empty or param.kind in (
                param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name not in ARG_DEFAULTS:
            msg = f"{cls.__name__} needs the argument {name!r}: pass --arg {name}=VALUE."
            raise UserCodeError(msg, "construct")
        kwargs[name] = ARG_DEFAULTS[name]
    try:
        return cls(**kwargs)
    except Exception as exc:
        source = source_of(cls)
        if source is None:
            raise
        raise user_error(exc, source, f"{cls.__name__}({_call_args(kwargs)})",
                         "construct") from exc


def _call_args(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def source_of(obj: Any) -> Path | None:
    """The file that defines ``obj``'s class (or class ``obj``), unless it is xpnet's own."""
    cls = obj if isinstance(obj, type) else type(obj)
    try:
        source = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None
    return None if source.is_relative_to(_PACKAGE) else source


def user_error(exc: BaseException, source: Path, what: str, phase: str) -> UserCodeError:
    """``exc``, raised in the user's file ``source`` while doing ``what``, as one line that
    points at the user's own line (the deepest frame in that file)."""
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        where = f" at {exc.filename}, line {exc.lineno}"
        if exc.text:
            where += f": {exc.text.strip()!r}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename and _same(f.filename, source)]
        if frames:
            f = frames[-1]
            where = f" at {f.filename}, line {f.lineno}, in {f.name}"
            if f.line:
                where += f": {f.line.strip()!r}"
    detail = (exc.msg if isinstance(exc, SyntaxError) else str(exc)) or "(no message)"
    if not where and phase == "check":
        # no line of the user's file was running: what xpnet built for it from the
        # arguments (an input of shape (2, n_in)) is what failed
        msg = (f"{what} raised {type(exc).__name__}: {detail}, in xpnet's code, not in "
               f"{source.name}: check what your class's forward and backward return (arrays "
               "of the input's backend, dx shaped like the input), and any values given "
               "with --arg (sizes are positive integers, e.g. --arg n_in=3).")
        return UserCodeError(msg, "construct")
    msg = (f"{what} raised {type(exc).__name__}: {detail}{where}. Fix that line of your code, "
           "then run the command again.")
    return UserCodeError(msg, phase)


def _same(filename: str, source: Path) -> bool:
    try:
        return Path(filename).resolve() == source
    except OSError:
        return False
