"""TMVA's input transformations (``<Transformations>``), as TMVA's Reader applies them.

The Reader uses each transformation's last class block (all classes together).
``Normalize`` maps ``x -> 2 (x - min) / (max - min) - 1`` per selected variable (and is
inverted on a regression's targets); ``Decorrelation`` multiplies the selected variables
by a matrix, ``PCA`` projects ``x - mean`` on eigenvectors: all three are affine, so
they become lwtnn's ``(x + offset) * scale`` or fold into the first dense layer.
``Gauss`` and ``Uniform`` map each variable through its cumulative distribution, which
nothing in lwtnn computes: they are refused by name, as is any other.

Each transformation computes both ways: ``exact`` in float64 (what an exact conversion
gives) and ``tmva`` with TMVA's own float32 rounding (what the Reader returns).
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from ..errors import ConversionError, Diagnostic
from ..exact import Exact, matmul
from .method import Method, integer, numbers

F32 = np.float32
MAX_TRANSFORMATIONS = 16
NON_LINEAR = {
    "Gauss": "it maps each variable through its cumulative distribution and then an "
             "inverse Gaussian, which no lwtnn preprocessing or layer computes",
    "Uniform": "it maps each variable through its cumulative distribution, which no "
               "lwtnn preprocessing or layer computes",
}


@dataclass
class Normalize:
    """``x' = 2 (x - min) / (max - min) - 1`` on the selected variables and targets."""

    variables: list[int]
    minimum: np.ndarray          # float32 values, per selected variable
    maximum: np.ndarray
    targets: list[int]
    target_minimum: np.ndarray
    target_maximum: np.ndarray
    name: str = "Normalize"

    def affine(self, n: int) -> tuple[Exact, Exact]:
        """(a, c) with x' = a x + c, element-wise, on all n variables, exactly."""
        return _on_selected(n, self.variables, *_unit_range(self.minimum, self.maximum))

    def exact(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)
        x[:, self.variables] = (2.0 * (x[:, self.variables] - self.minimum)
                                / (self.maximum - self.minimum) - 1.0)
        return x

    def tmva(self, x: np.ndarray) -> np.ndarray:
        """TMVA: ``Float_t scale = 1.0/(max-min); (val-offset)*scale*2 - 1`` in float."""
        x = np.array(x, dtype=F32)
        minimum, scale = self.minimum.astype(F32), _float_inverse(self.maximum, self.minimum)
        x[:, self.variables] = (x[:, self.variables] - minimum) * scale * F32(2) - F32(1)
        return x

    def target_affine(self, n: int) -> tuple[Exact, Exact]:
        """(h, m) with y = h y' + m undoing the transformation of n targets, exactly."""
        half = (Exact.of(self.target_maximum) - Exact.of(self.target_minimum)) / 2
        return _on_selected(n, self.targets, half, Exact.of(self.target_minimum) + half)

    def inverse_targets_tmva(self, y: np.ndarray) -> np.ndarray:
        """TMVA: ``offset + (val + 1) / (scale * 2)`` in float."""
        y = np.array(y, dtype=F32)
        scale = _float_inverse(self.target_maximum, self.target_minimum)
        y[:, self.targets] = (self.target_minimum.astype(F32)
                              + (y[:, self.targets] + F32(1)) / (scale * F32(2)))
        return y


@dataclass
class Linear:
    """``x'_sel = M x_sel + c`` on the selected variables (Decorrelation, PCA)."""

    name: str
    variables: list[int]
    matrix: np.ndarray
    shift: np.ndarray

    def after(self, a: Exact, c: Exact) -> tuple[Exact, Exact]:
        """(A', c') of this map applied after x -> A x + c (M's entries are the file's).
        Only the selected rows change: |S|^2 n work, not n^3 (a one-variable
        Decorrelation of a thousand-variable file is one row)."""
        rows = self.variables
        return (_rows_replaced(a, rows, matmul(self.matrix, a.take(rows, axis=0))),
                _rows_replaced(c, rows, matmul(self.matrix, c.take(rows, axis=0))
                               + Exact.of(self.shift)))

    def exact(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)
        x[:, self.variables] = x[:, self.variables] @ self.matrix.T + self.shift
        return x

    def tmva(self, x: np.ndarray) -> np.ndarray:
        """TMVA computes in double from the event's floats and stores floats back."""
        x = np.array(x, dtype=F32)
        x[:, self.variables] = (x[:, self.variables].astype(np.float64) @ self.matrix.T
                                + self.shift).astype(F32)
        return x


Transform = Union[Normalize, Linear]


def read_transformations(method: Method) -> list[Transform]:
    """The file's transformations in TMVA's order; non-linear ones are refused, all
    named at once."""
    parsed, refused = [], []
    elements = method.root.findall("Transformations/Transform") if method.root is not None else []
    if len(elements) > MAX_TRANSFORMATIONS:
        raise method.error(f"{len(elements):,} transformations; TMVA chains a handful, and "
                           f"at most {MAX_TRANSFORMATIONS} are read (each composes a "
                           "variables x variables map)")
    for position, element in enumerate(elements):
        name = element.get("Name", "")
        reader = READERS.get(name)
        if reader is None:
            reason = NON_LINEAR.get(name, "this TMVA transformation is not one this tool "
                                          "knows (Normalize, Decorrelation and PCA are)")
            refused.append(Diagnostic(f"{position}: {name}", "TMVA transformation", reason))
            continue
        parsed.append(reader(method, element))
    if refused:
        raise ConversionError(refused, f"{len(refused)} TMVA transformation(s) cannot be "
                                       "expressed in lwtnn")
    return parsed


def _selection(method: Method, element: ElementTree.Element) -> list[tuple[str, int]]:
    """(kind, index) of each input the transformation selects, in its range order. An
    input named by its Label or its Expression alone is looked up by that name only: the
    one it lacks is not the empty name of an unnamed variable."""
    selection = element.find("Selection/Input")
    if selection is None:
        raise method.error(f"<Transform Name=\"{element.get('Name')}\"> has no <Selection>: "
                           "the pre-2010 TMVA format is not read")
    picked = []
    for entry in selection.findall("Input"):
        kind = entry.get("Type", "Variable")
        if kind not in ("Variable", "Target"):
            raise method.error(f"a transformation selects a {kind.lower()} "
                               f"'{entry.get('Label')}'; only variables and targets are read")
        label = entry.get("Label", entry.get("Expression", ""))
        picked.append((kind, method.variable_index(kind, label, entry.get("Expression", label))))
    return picked


def _last_block(method: Method, blocks: list[ElementTree.Element], what: str):
    """The block the Reader uses: the last, for all classes together (TMVA writes the
    blocks in class order)."""
    if not blocks:
        raise method.error(f"{what} has no class blocks")
    return blocks[-1]


def _normalize(method: Method, element: ElementTree.Element) -> Normalize:
    selected = _selection(method, element)
    block = _last_block(method, element.findall("Class"), "Normalize")
    lows, highs = np.full(len(selected), np.nan), np.full(len(selected), np.nan)
    for entry in block.iterfind("Ranges/Range"):
        index = integer(method, entry, "Index")
        if not 0 <= index < len(selected):
            raise method.error(f"Normalize: range index {index} outside its selection")
        try:
            lows[index], highs[index] = (float(F32(float(entry.get(k, "nan"))))
                                         for k in ("Min", "Max"))
        except ValueError:
            raise method.error("Normalize: a range's Min or Max is not a number") from None
    for (kind, index), low, high in zip(selected, lows, highs):
        name = method.variables[index] if kind == "Variable" else method.targets[index]
        if not (np.isfinite(low) and np.isfinite(high) and high > low):
            raise method.error(f"Normalize: {kind.lower()} '{name}' has range [{low}, {high}]; "
                               "2 (x - min) / (max - min) - 1 needs max > min")
    is_variable = np.array([kind == "Variable" for kind, _ in selected], dtype=bool)
    return Normalize(
        variables=[i for kind, i in selected if kind == "Variable"],
        minimum=lows[is_variable], maximum=highs[is_variable],
        targets=[i for kind, i in selected if kind == "Target"],
        target_minimum=lows[~is_variable], target_maximum=highs[~is_variable])


def _variables_only(method: Method, element: ElementTree.Element) -> list[int]:
    selected = _selection(method, element)
    if any(kind != "Variable" for kind, _ in selected):
        raise method.error(f"{element.get('Name')} on regression targets is not read")
    return [index for _, index in selected]


def _decorrelation(method: Method, element: ElementTree.Element) -> Linear:
    variables = _variables_only(method, element)
    n = len(variables)
    block = _last_block(method, element.findall("Matrix"), "Decorrelation")
    if (integer(method, block, "Rows"), integer(method, block, "Columns")) != (n, n):
        raise method.error(f"Decorrelation: the matrix is not {n} x {n}")
    matrix = numbers(method, block, n * n, "Decorrelation matrix").reshape(n, n)
    return Linear("Decorrelation", variables, matrix, np.zeros(n))


def _pca(method: Method, element: ElementTree.Element) -> Linear:
    variables = _variables_only(method, element)
    n = len(variables)
    means = _last_block(method, element.findall("Statistics"), "PCA")
    vectors = _last_block(method, element.findall("Eigenvectors"), "PCA")
    mean = numbers(method, means, n, "PCA means")
    eigen = numbers(method, vectors, n * n, "PCA eigenvectors").reshape(n, n)
    return Linear("PCA", variables, eigen.T, -eigen.T @ mean)  # p = E^T (x - mean)


READERS: dict[str, Callable[[Method, ElementTree.Element], Transform]] = {
    "Normalize": _normalize,
    "Decorrelation": _decorrelation,
    "PCA": _pca,
}


def apply(transforms: list[Transform], x: np.ndarray, exact: bool) -> np.ndarray:
    """The variables as the network sees them, after every transformation in order."""
    for transform in transforms:
        x = transform.exact(x) if exact else transform.tmva(x)
    return x


def split(transforms: list[Transform], n: int) -> tuple[Exact, Exact,
                                              Optional[tuple[Exact, Exact]]]:
    """(offset, scale, rest): the leading Normalize steps as lwtnn's ``(x + offset) *
    scale``, and the affine map (A, c) of everything after them (None if nothing is),
    all exact."""
    offset, scale = Exact.zeros((n,)), Exact.of(np.ones(n))
    position = 0
    while position < len(transforms) and isinstance(transforms[position], Normalize):
        step, shift = transforms[position].affine(n)
        offset, scale = offset + shift / (scale * step), scale * step
        position += 1
    if position == len(transforms):
        return offset, scale, None
    a, c = Exact.of(np.eye(n)), Exact.zeros((n,))
    for transform in transforms[position:]:
        if isinstance(transform, Normalize):
            step, shift = transform.affine(n)
            a, c = a * step.reshape(n, 1), c * step + shift
        else:
            a, c = transform.after(a, c)
    return offset, scale, (a, c)


def target_affine(transforms: list[Transform], n: int) -> Optional[tuple[Exact, Exact]]:
    """(h, m) undoing the targets' transformations (y = h y' + m), None if there are
    none, exactly."""
    normalizes = [t for t in transforms if isinstance(t, Normalize) and t.targets]
    if not normalizes:
        return None
    half, middle = Exact.of(np.ones(n)), Exact.zeros((n,))
    for transform in reversed(normalizes):  # undo in reverse order
        h, m = transform.target_affine(n)
        half, middle = half * h, middle * h + m
    return half, middle


def inverse_targets_tmva(transforms: list[Transform], y: np.ndarray) -> np.ndarray:
    for transform in reversed(transforms):
        if isinstance(transform, Normalize) and transform.targets:
            y = transform.inverse_targets_tmva(y)
    return y


def _unit_range(minimum: np.ndarray, maximum: np.ndarray) -> tuple[Exact, Exact]:
    """(a, c) with 2 (x - min) / (max - min) - 1 = a x + c."""
    scale = 2 / (Exact.of(maximum) - Exact.of(minimum))
    return scale, -Exact.of(minimum) * scale - 1


def _on_selected(n: int, selected: list[int], scale: Exact,
                 shift: Exact) -> tuple[Exact, Exact]:
    """(a, c) of an element-wise map that is ``scale``, ``shift`` on the selected of n
    variables and the identity on the others."""
    return _placed(n, selected, scale, 1), _placed(n, selected, shift, 0)


def _placed(n: int, selected: list[int], values: Exact, fill: int) -> Exact:
    """n values: ``values`` at the selected positions, ``fill`` elsewhere."""
    placed = [Exact.of(fill)] * n
    for position, index in enumerate(selected):
        placed[index] = values[position]
    return Exact.stack(placed)


def _rows_replaced(values: Exact, rows: list[int], new: Exact) -> Exact:
    """``values`` with the given rows (entries, for a vector) replaced by ``new``'s."""
    num, den = values.num.copy(), values.full_den().copy()
    num[rows], den[rows] = new.num, new.full_den()
    return Exact(num, den)


def _float_inverse(maximum: np.ndarray, minimum: np.ndarray) -> np.ndarray:
    """``Float_t scale = 1.0/(max-min)``: a float difference, a double division, a float."""
    return (1.0 / (maximum.astype(F32) - minimum.astype(F32)).astype(np.float64)).astype(F32)
