"""Compile an optimizer's update rule, as written in Python, into one elementwise kernel.

An optimizer writes its update once, as a method of plain arithmetic
(:meth:`xpnet.nn.optimizers.Optimizer.update`)::

    def update(self, xp, p, g, m, v, *, lr, beta_1, beta_2, epsilon, t):
        m = beta_1 * m + (1 - beta_1) * g
        ...
        return p + step, m, v

:func:`compile_rule` reads that method's source and derives an :class:`UpdateRule`: the body
as C (for a CUDA elementwise kernel) and as Python (for the NumPy reference of the fused
engine), with every subexpression that involves no array -- ``1 - beta_1``, ``-lr``,
``1 - beta_1**t`` -- *hoisted*: computed once per step on the host in Python floats, exactly
as the generic code computes it, and passed to the kernel as a scalar of the arrays' dtype.
That is what makes the kernel round like the generic code: NumPy also turns a Python float
into the array's dtype before it multiplies, and C would otherwise compute ``0.1 * g`` in
double. Statements that are not assignments (``self.emit(...)``, explain mode's report) are
left out of the kernel.

Supported: assignments to one name, ``+ - * /`` (``**`` between scalars), unary minus,
``xp.sqrt``, numbers, and ``return p_expr, *state``. Anything else makes :func:`compile_rule`
return None, and the engines run the method itself.

>>> from xpnet.nn.optimizers import Adam
>>> rule = compile_rule(Adam().update)
>>> rule.state, rule.scalars[:3]
(('m', 'v'), ('_k0', '_k1', '_k2'))
>>> print(rule.c.splitlines()[0])
m = ((_k0 * m) + (_k1 * g));
>>> rule.scalar_values(Adam(learning_rate=0.1).hyperparameters())[:2]
[0.9, 0.09999999999999998]
"""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, SimpleNamespace
from typing import Any

__all__ = ["UpdateRule", "compile_rule"]

_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
#: what an ``xp`` name means while hoisted scalars are computed on the host
_HOST_XP = SimpleNamespace(sqrt=math.sqrt)


class Untranslatable(Exception):
    """A construct the kernel translation does not cover."""


@dataclass(frozen=True)
class UpdateRule:
    """An update rule as one in-place elementwise kernel over ``p``, ``g`` and the state.

    Attributes
    ----------
    name : str
        ``Class_method`` (the kernel is named ``xpnet_<name>``).
    state : tuple of str
        The state arrays, in the order the rule takes them.
    scalars : tuple of str
        The kernel's scalar parameters ``_k0, _k1, ...``, one per hoisted subexpression.
    python, c : str
        The body: statements assigning the temporaries, the state and ``p``.
    """

    name: str
    state: tuple[str, ...]
    scalars: tuple[str, ...]
    python: str
    c: str
    #: the scalar temporaries (in order, as assignments), then the kernel scalars, as one
    #: tuple expression: one evaluation a step (a step table has a row per epoch)
    _values: CodeType = field(repr=False)
    _temporaries: int = field(repr=False)

    def scalar_values(self, hyperparameters: dict[str, Any]) -> list[Any]:
        """This step's kernel scalars, from the optimizer's ``hyperparameters()``."""
        env: dict[str, Any] = {"xp": _HOST_XP, **hyperparameters}
        # our own compiled subexpressions, nothing of the user's but their arithmetic
        return list(eval(self._values, {"__builtins__": {}}, env)[self._temporaries:])


_CACHE: dict[Any, UpdateRule | None] = {}


def compile_rule(method: Callable[..., Any]) -> UpdateRule | None:
    """The :class:`UpdateRule` of an optimizer's update method, or None when it uses
    something the translation does not cover (then the engines call the method itself).
    Cached per function."""
    func = getattr(method, "__func__", method)
    if func not in _CACHE:
        try:
            _CACHE[func] = _Translator(func).rule()
        except (Untranslatable, OSError, TypeError, SyntaxError):
            _CACHE[func] = None
    return _CACHE[func]


class _Translator:
    def __init__(self, func: Callable[..., Any]):
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        fdef = tree.body[0]
        if not isinstance(fdef, ast.FunctionDef):
            raise Untranslatable("not a function")
        self.fdef = fdef
        self.name = func.__qualname__.replace(".", "_")
        positional = [a.arg for a in fdef.args.args]
        if positional[:4] != ["self", "xp", "p", "g"]:
            raise Untranslatable("the rule must take (self, xp, p, g, *state, **scalars)")
        self.state = tuple(positional[4:])
        self.arrays = {"p", "g", *self.state}
        self.scalar_names = {a.arg for a in fdef.args.kwonlyargs}
        self.hoisted: dict[str, str] = {}  # unparsed subexpression -> kernel scalar name
        self.codes: list[ast.expr] = []  # the kernel scalars' expressions, in order
        self.prelude: list[tuple[str, ast.expr]] = []  # the scalar temporaries, in order
        self.temps: list[str] = []

    # -- expressions ----------------------------------------------------------------------
    def lower(self, node: ast.expr) -> tuple[ast.expr, bool]:
        """The expression with its scalar-only parts hoisted, and whether it is an array."""
        if isinstance(node, ast.Name):
            if node.id in self.arrays:
                return node, True
            if node.id in self.scalar_names:
                return node, False
            raise Untranslatable(f"unknown name {node.id}")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node, False
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand, is_array = self.lower(node.operand)
            return ast.UnaryOp(op=ast.USub(), operand=operand), is_array
        if isinstance(node, ast.BinOp) and type(node.op) in (*_OPS, ast.Pow):
            left, la = self.lower(node.left)
            right, ra = self.lower(node.right)
            if not (la or ra):
                return ast.BinOp(left=left, op=node.op, right=right), False
            if isinstance(node.op, ast.Pow):
                raise Untranslatable("** of an array")
            return ast.BinOp(left=self.hoist(left, la), op=node.op,
                             right=self.hoist(right, ra)), True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "sqrt" and len(node.args) == 1 and not node.keywords):
            arg, is_array = self.lower(node.args[0])
            if not is_array:
                return ast.Call(func=node.func, args=[arg], keywords=[]), False
            return ast.Call(func=ast.Name(id="sqrt"), args=[arg], keywords=[]), True
        raise Untranslatable(ast.dump(node))

    def hoist(self, node: ast.expr, is_array: bool) -> ast.expr:
        """An array expression as it is; a scalar one as a kernel scalar computed on the host."""
        if is_array:
            return node
        text = ast.unparse(node)
        if text not in self.hoisted:
            self.hoisted[text] = f"_k{len(self.hoisted)}"
            self.codes.append(node)
        return ast.Name(id=self.hoisted[text])

    # -- statements -----------------------------------------------------------------------
    def rule(self) -> UpdateRule:
        python: list[str] = []
        c: list[str] = []
        returned = False
        for stmt in self.fdef.body:
            if isinstance(stmt, ast.Expr):
                continue  # the docstring, explain mode's report
            if returned:
                raise Untranslatable("statements after return")
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                target = stmt.targets[0].id
                value, is_array = self.lower(stmt.value)
                if not is_array:  # a scalar temporary: computed on the host, in order
                    self.scalar_names.add(target)
                    self.prelude.append((target, value))
                    continue
                declare = target not in self.arrays
                self.arrays.add(target)
                python.append(f"{target} = {ast.unparse(value)}")
                c.append(f"{'T ' if declare else ''}{target} = {_c(value)};")
                continue
            if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Tuple):
                p, *state = stmt.value.elts
                if [getattr(s, "id", None) for s in state] != list(self.state):
                    raise Untranslatable("return p, then the state arrays in order")
                value, is_array = self.lower(p)
                python.append(f"p = {ast.unparse(self.hoist(value, is_array))}")
                c.append(f"p = {_c(self.hoist(value, is_array))};")
                returned = True
                continue
            raise Untranslatable(ast.dump(stmt))
        if not returned:
            raise Untranslatable("no return")
        return UpdateRule(self.name, self.state, tuple(self.hoisted.values()),
                          "\n".join(python), "\n".join(c), self._values(),
                          len(self.prelude))

    def _values(self) -> CodeType:
        """``(t0 := ..., t1 := ..., k0, k1, ...)``: the temporaries assigned in order, then
        the kernel scalars, compiled to evaluate on the host."""
        assigned: list[ast.expr] = [
            ast.NamedExpr(target=ast.Name(id=name, ctx=ast.Store()), value=value)
            for name, value in self.prelude]
        values = ast.Tuple(elts=[*assigned, *self.codes], ctx=ast.Load())
        return compile(ast.fix_missing_locations(ast.Expression(body=values)), "<rule>", "eval")


def _c(node: ast.expr) -> str:
    """C for a lowered array expression (every operation parenthesised)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.UnaryOp):
        return f"(-{_c(node.operand)})"
    if isinstance(node, ast.BinOp):
        return f"({_c(node.left)} {_OPS[type(node.op)]} {_c(node.right)})"
    if isinstance(node, ast.Call):
        return f"sqrt({_c(node.args[0])})"
    raise Untranslatable(ast.dump(node))
