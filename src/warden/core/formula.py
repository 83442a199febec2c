"""``bantime.formula``: a small, safe arithmetic language, compiled to closures (never ``eval``).

fail2ban evaluates the option as Python. Its documented formulas are::

    ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor
    ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)

so the language is the part of Python's expression grammar those need, and no more:

- numbers (``int``/``float`` literals), the names ``ban.Time``, ``ban.Count``, ``banFactor``,
  ``math.e`` and ``math.pi``;
- ``+ - * / // % **``, ``<< >>``, unary ``+ -``, comparisons, ``and``/``or``/``not``,
  ``a if cond else b`` and parentheses;
- calls of ``float int abs round min max`` and ``math.exp log log2 log10 pow sqrt floor
  ceil`` with positional arguments.

The text is parsed with :func:`ast.parse` and every node checked against that list; a node
outside it is a :class:`FormulaError` naming it. Evaluation is bounded: shifts and powers are
limited so no formula can build a huge integer, and a result that is not a finite number is an
error too (the ban policy then falls back to the jail's ``bantime``).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["Formula", "FormulaError", "compile_formula"]

_MAX_LENGTH = 1000
_MAX_NODES = 200
_MAX_SHIFT = 256
_MAX_EXPONENT = 1024


class FormulaError(ValueError):
    """A formula that is not in the language, or whose value cannot be computed."""


class _Env(NamedTuple):
    time: float
    bans: int
    factor: float


_Node = Callable[[_Env], object]


def _number(value: object) -> float | int:
    # Comparisons give bools, which Python's arithmetic (and so fail2ban) counts as 0 and 1.
    if not isinstance(value, int | float):
        raise FormulaError(f"expected a number, got {value!r}")
    return int(value) if isinstance(value, bool) else value


def _shift(op: Callable[[int, int], int]) -> Callable[[object, object], int]:
    def shift(a: object, b: object) -> int:
        x, y = _number(a), _number(b)
        if not isinstance(x, int) or not isinstance(y, int):
            raise FormulaError("shift operands must be integers")
        if not 0 <= y <= _MAX_SHIFT or abs(x).bit_length() > _MAX_SHIFT * 4:
            raise FormulaError(f"shift out of range: {x} by {y}")
        return op(x, y)

    return shift


def _power(a: object, b: object) -> float:
    x, y = float(_number(a)), float(_number(b))
    if abs(y) > _MAX_EXPONENT:
        raise FormulaError(f"exponent out of range: {y}")
    return math.pow(x, y)


def _arith(op: Callable[[float, float], float]) -> Callable[[object, object], float]:
    def apply(a: object, b: object) -> float:
        return op(_number(a), _number(b))

    return apply


_BINARY: dict[type[ast.operator], Callable[[object, object], object]] = {
    ast.Add: _arith(operator.add),
    ast.Sub: _arith(operator.sub),
    ast.Mult: _arith(operator.mul),
    ast.Div: _arith(operator.truediv),
    ast.FloorDiv: _arith(operator.floordiv),
    ast.Mod: _arith(operator.mod),
    ast.Pow: _power,
    ast.LShift: _shift(operator.lshift),
    ast.RShift: _shift(operator.rshift),
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _to_int(value: object) -> int:
    number = _number(value)
    if not math.isfinite(number):
        raise FormulaError(f"cannot convert {number} to an integer")
    return int(number)


def _variadic(fn: Callable[..., float]) -> Callable[..., float]:
    def call(*args: object) -> float:
        if not args:
            raise FormulaError("min()/max() need at least one argument")
        return fn(*(_number(a) for a in args))

    return call


def _unary(fn: Callable[[float], float]) -> Callable[..., float]:
    def call(*args: object) -> float:
        if len(args) != 1:
            raise FormulaError("function takes exactly one argument")
        return fn(_number(args[0]))

    return call


def _arity(fn: Callable[..., object], low: int, high: int, name: str) -> Callable[..., object]:
    def call(*args: object) -> object:
        if not low <= len(args) <= high:
            raise FormulaError(f"{name}() takes {low if low == high else f'{low} or {high}'} "
                               f"argument{'s' if high > 1 else ''}, not {len(args)}")
        return fn(*args)

    return call


def _log(*args: object) -> float:
    if len(args) not in (1, 2):
        raise FormulaError("log() takes one or two arguments")
    return math.log(*(_number(a) for a in args))


def _round(*args: object) -> float:
    if len(args) not in (1, 2):
        raise FormulaError("round() takes one or two arguments")
    if len(args) == 2:
        return round(_number(args[0]), _to_int(args[1]))
    return round(_number(args[0]))


_FUNCTIONS: dict[str, Callable[..., object]] = {
    "float": _unary(float),
    "int": _arity(_to_int, 1, 1, "int"),
    "abs": _unary(abs),
    "round": _round,
    "min": _variadic(min),
    "max": _variadic(max),
    "math.exp": _unary(math.exp),
    "math.log": _log,
    "math.log2": _unary(math.log2),
    "math.log10": _unary(math.log10),
    "math.pow": _arity(_power, 2, 2, "math.pow"),
    "math.sqrt": _unary(math.sqrt),
    "math.floor": _unary(math.floor),
    "math.ceil": _unary(math.ceil),
}
_NAMES: dict[str, _Node] = {
    "ban.Time": lambda env: env.time,
    "ban.Count": lambda env: env.bans,
    "banFactor": lambda env: env.factor,
    "math.e": lambda env: math.e,
    "math.pi": lambda env: math.pi,
}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, node: ast.AST, why: str) -> FormulaError:
        col = getattr(node, "col_offset", 0) + 1
        return FormulaError(f"invalid bantime.formula {self.text!r}: {why} at position {col}")

    def compile(self, node: ast.expr) -> _Node:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(node, f"only numbers are allowed, not {value!r}")
            return lambda env: value
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted(node)
            if name not in _NAMES:
                raise self.fail(node, f"unknown name {name or ast.unparse(node)!r}")
            return _NAMES[name]
        if isinstance(node, ast.BinOp):
            binary = _BINARY.get(type(node.op))
            if binary is None:
                raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
            left, right = self.compile(node.left), self.compile(node.right)
            return lambda env: binary(left(env), right(env))
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: -_number(operand(env))
            if isinstance(node.op, ast.UAdd):
                return lambda env: +_number(operand(env))
            if isinstance(node.op, ast.Not):
                return lambda env: not operand(env)
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            values = [self.compile(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: _all_of(values, env)
            return lambda env: _any_of(values, env)
        if isinstance(node, ast.IfExp):
            test, body, orelse = (self.compile(node.test), self.compile(node.body),
                                  self.compile(node.orelse))
            return lambda env: body(env) if test(env) else orelse(env)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"{type(node).__name__} is not allowed")

    def compare(self, node: ast.Compare) -> _Node:
        first = self.compile(node.left)
        rest: list[tuple[Callable[[float, float], bool], _Node]] = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise self.fail(node, f"comparison {type(op).__name__} is not allowed")
            rest.append((fn, self.compile(comparator)))

        def evaluate(env: _Env) -> bool:
            left = _number(first(env))
            for fn, right_node in rest:
                right = _number(right_node(env))
                if not fn(left, right):
                    return False
                left = right
            return True

        return evaluate

    def call(self, node: ast.Call) -> _Node:
        name = _dotted(node.func)
        fn = _FUNCTIONS.get(name or "")
        if fn is None:
            raise self.fail(node, f"unknown function {name or ast.unparse(node.func)!r}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "only positional arguments are allowed")
        args = [self.compile(a) for a in node.args]
        return lambda env: fn(*(a(env) for a in args))


def _all_of(values: list[_Node], env: _Env) -> object:
    result: object = True
    for value in values:
        result = value(env)
        if not result:
            return result
    return result


def _any_of(values: list[_Node], env: _Env) -> object:
    result: object = False
    for value in values:
        result = value(env)
        if result:
            return result
    return result


class Formula:
    """A compiled ``bantime.formula``: call it with the base ban time, the number of earlier
    bans and ``bantime.factor``."""

    __slots__ = ("_root", "text")

    def __init__(self, text: str, root: _Node) -> None:
        self.text = text
        self._root = root

    def __call__(self, time: float, count: int, factor: float) -> float:
        """The formula's value; :class:`FormulaError` if it is no finite number."""
        try:
            value = self._root(_Env(time, count, factor))
        except (ArithmeticError, ValueError) as exc:
            if isinstance(exc, FormulaError):
                raise
            raise FormulaError(f"bantime.formula {self.text!r} failed: {exc}") from None
        number = float(_number(value))
        if not math.isfinite(number):
            raise FormulaError(f"bantime.formula {self.text!r} gave {number}")
        return number

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"


def compile_formula(text: str) -> Formula:
    """Parse and check ``text``; raise :class:`FormulaError` naming what is not allowed."""
    source = text.strip()
    if not source:
        raise FormulaError("bantime.formula is empty")
    if len(source) > _MAX_LENGTH:
        raise FormulaError(f"bantime.formula is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"invalid bantime.formula {source!r}: {exc.msg} at position "
                           f"{exc.offset or 0}") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise FormulaError(f"bantime.formula has more than {_MAX_NODES} parts")
    return Formula(source, _Compiler(source).compile(tree.body))
