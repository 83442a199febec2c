"""bantime.formula: fail2ban's documented formulas give fail2ban's values; nothing else runs."""

from __future__ import annotations

import math

import pytest

from warden.core.formula import FormulaError, compile_formula

DEFAULT = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor"
EXP = "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)"


def _python(text: str, time: float, count: int, factor: float) -> float:
    """What fail2ban computes: the formula as Python (trusted test input only)."""

    class Ban:
        Time = time
        Count = count

    value = eval(text, {"math": math, "ban": Ban, "banFactor": factor})
    return float(value)


@pytest.mark.parametrize("text", [DEFAULT, EXP, "max(ban.Time, min(ban.Time * 3, 86400))",
                                  "ban.Time * 2 ** ban.Count", "ban.Time + 60*ban.Count // 2",
                                  "-ban.Time + +ban.Time * (ban.Count % 3 + 1)",
                                  "ban.Time * (2 if ban.Count >= 2 and ban.Count != 5 else 1)",
                                  "ban.Time * (3 if not ban.Count or ban.Count > 4 else 1)",
                                  "ban.Time * (1 < ban.Count <= 3 or 2)",
                                  "int(ban.Time * math.log(ban.Count + 1) + math.sqrt(4))",
                                  "round(ban.Time * math.pow(1.5, ban.Count), 1)",
                                  "abs(ban.Time) * math.log2(8) * math.log10(100) * math.e / "
                                  "math.pi",
                                  "math.floor(ban.Time / 7) + math.ceil(ban.Time / 7) + round(2.5)",
                                  "ban.Time * math.log(100, 10) if 0 else ban.Time",
                                  "(1 << 40) >> ban.Count"])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 25])
@pytest.mark.parametrize("factor", [1.0, 2.0 / 2.885385, 0.5])
def test_same_values_as_python(text: str, count: int, factor: float) -> None:
    formula = compile_formula(text)
    assert formula(600.0, count, factor) == pytest.approx(_python(text, 600.0, count, factor))


def test_default_formula_doubles_and_stops_at_20() -> None:
    formula = compile_formula(DEFAULT)
    assert [formula(600.0, n, 1.0) for n in (0, 1, 2, 3)] == [600, 1200, 2400, 4800]
    assert formula(1.0, 25, 1.0) == 2 ** 20
    assert repr(formula) == f"Formula({DEFAULT!r})"


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("   ", "empty"),
    ("ban.Time +", "invalid syntax"),
    ("__import__('os').system('true')", "unknown function"),
    ("ban.__class__", "unknown name"),
    ("ban", "unknown name"),
    ("open", "unknown name"),
    ("ban.Time.real", "unknown name"),
    ("(lambda: 1)()", "unknown function"),
    ("[1][0]", "Subscript is not allowed"),
    ("{1: 2}", "Dict is not allowed"),
    ("'a' * 3", "only numbers"),
    ("True + 1", "only numbers"),
    ("ban.Time @ 2", "MatMult is not allowed"),
    ("ban.Time | 2", "BitOr is not allowed"),
    ("~ban.Count", "Invert is not allowed"),
    ("1 in (1, 2)", "In is not allowed"),
    ("1 is 1", "Is is not allowed"),
    ("max(*[1])", "positional"),
    ("round(ban.Time, ndigits=1)", "positional"),
    ("math.system(1)", "unknown function"),
    ("x", "unknown name"),
    ("+".join(["1"] * 300), "more than"),
    ("1" * 1001, "longer than"),
])
def test_rejected(text: str, why: str) -> None:
    with pytest.raises(FormulaError, match=why):
        compile_formula(text)


@pytest.mark.parametrize(("text", "why"), [
    ("ban.Time / (ban.Count - 1)", "division by zero"),
    ("math.exp(ban.Time)", "range"),
    ("10.0 ** (ban.Time * 2)", "exponent out of range"),
    ("10.0 ** ban.Time", "range"),
    ("2 ** 1023 * 2.0 ** 1023", "inf|range"),
    ("1 << ban.Time", "integers"),
    ("1 << 1000", "shift out of range"),
    ("1 << -1", "shift out of range"),
    ("math.log(0)", "domain"),
    ("math.log(1, 2, 3)", "one or two"),
    ("round(1, 2, 3)", "one or two"),
    ("min()", "at least one"),
    ("float()", "exactly one"),
    ("int(1, 2)", "int.. takes 1 argument, not 2"),
    ("math.pow(2)", "takes 2 arguments, not 1"),
    ("int(math.exp(700) * 1e10)", "convert|range"),
])
def test_evaluation_errors(text: str, why: str) -> None:
    formula = compile_formula(text)
    with pytest.raises(FormulaError, match=why):
        formula(1000.0, 1, 1.0)


def test_comparisons_count_as_numbers_like_in_python() -> None:
    assert compile_formula("ban.Count > 1")(600.0, 2, 1.0) == 1.0
    assert compile_formula("ban.Time * (ban.Count > 1)")(600.0, 1, 1.0) == 0.0


def test_errors_of_callers_are_formula_errors() -> None:
    formula = compile_formula("max(ban.Time, 1)")
    with pytest.raises(FormulaError, match="expected a number"):
        formula("600", 1, 1.0)  # type: ignore[arg-type]
