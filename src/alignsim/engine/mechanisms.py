"""The closed registry of mechanism kinds: how one state variable moves in one quarter.

All arrays have shape (replicates,). ``drive`` is the sum over the variable's inputs of
coefficient x input value (values read from the snapshot taken at the start of the phase).

- ``shock_level``:        x' = x + speed (baseline - x) + drive
- ``partial_adjustment``: x' = x + speed (base + drive - x)
- ``logistic_growth``:    x' = x + rate x (1 - x) + drive
- ``redraw_on_shock``:    x' = low + (high - low) u where a ``redraw_on`` shock fired, else x; + drive
- ``product``:            x' = prod_k (c_k v_k) over the inputs (an interaction, e.g. the patron's
  pressure times the focal state's dependence on it); ``drive`` is not added.

Then, for every kind: + jump for each shock that fired, + noise sd * z, reset where a ``resets``
shock fired, and clip to ``bounds``. A reset either sets the level (``reset: set``) or keeps the
higher of the current value and the level (``reset: max``): under ``max`` a reset can never
lower the variable, so more resets never give a lower path (the update is monotone in x).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alignsim.engine.kernels import KIND_CODES, advance_block

Array = np.ndarray
KIND_PARAMS = {"shock_level": ("speed", "baseline"), "partial_adjustment": ("speed", "base"),
               "logistic_growth": ("rate",), "redraw_on_shock": ("low", "high"), "product": ()}


@dataclass
class CompiledVariable:
    """A variable with its parameters resolved to per-replicate arrays."""

    ref: str
    kind: str
    params: dict[str, Array]
    inputs: list[tuple[str, Array]]
    jumps: list[tuple[str, Array]]
    resets: list[tuple[str, Array]]
    redraw_on: list[str]
    noise: Array | None
    bounds: tuple[float, float]
    initial: Array
    reset: str = "set"
    value: Array = field(init=False)

    def __post_init__(self) -> None:
        self.value = np.clip(self.initial, *self.bounds)


def product_of_inputs(inputs: list[tuple[str, Array]], snapshot: dict[str, Array]) -> Array:
    """prod_k (c_k v_k): the ``product`` kind's value from the snapshot."""
    out = None
    for ref, coef in inputs:
        term = coef * snapshot[ref]
        out = term if out is None else out * term
    return out


def apply_resets(new: Array, resets: list[tuple[str, Array]], shocks: dict[str, Array], rule: str) -> Array:
    """``set``: the level where the shock fired; ``max``: max(current, level) there."""
    for name, level in resets:
        target = np.maximum(new, level) if rule == "max" else level
        new = np.where(shocks[name], target, new)
    return new



def core_update(kind: str, x: Array, p: dict[str, Array], drive: Array,
                redraw_fired: Array | None, redraw_u: Array | None) -> Array:
    """The kind-specific part of the update (before jumps, noise, resets and clipping)."""
    if kind == "shock_level":
        return x + p["speed"] * (p["baseline"] - x) + drive
    if kind == "partial_adjustment":
        return x + p["speed"] * (p["base"] + drive - x)
    if kind == "logistic_growth":
        return x + p["rate"] * x * (1.0 - x) + drive
    if kind == "redraw_on_shock":
        fresh = p["low"] + (p["high"] - p["low"]) * redraw_u
        return np.where(redraw_fired, fresh, x) + drive
    raise ValueError(f"unknown mechanism kind {kind!r}")  # the schema admits only the kinds above


def advance(var: CompiledVariable, snapshot: dict[str, Array], shocks: dict[str, Array],
            uniform, normal) -> Array:
    """One quarter of ``var``; ``uniform(purpose)``/``normal(purpose)`` give per-replicate draws."""
    x = var.value
    drive = np.zeros_like(x)
    for ref, coef in var.inputs:
        drive = drive + coef * snapshot[ref]
    fired = u = None
    if var.kind == "redraw_on_shock":
        fired = np.zeros(x.shape, dtype=bool)
        for name in var.redraw_on:
            fired |= shocks[name]
        u = uniform(f"redraw:{var.ref}")
    if var.kind == "product":
        new = product_of_inputs(var.inputs, snapshot)
    else:
        new = core_update(var.kind, x, var.params, drive, fired, u)
    for name, jump in var.jumps:
        new = new + jump * shocks[name]
    if var.noise is not None:
        new = new + var.noise * normal(f"noise:{var.ref}")
    new = apply_resets(new, var.resets, shocks, var.reset)
    return np.clip(new, *var.bounds)


def readers_first(reads: list[set[int]]) -> list[int] | None:
    """An order of 0..n-1 in which ``i`` comes before every ``j`` in ``reads[i]`` (``j != i``);
    None when the reads form a cycle. Among the ready ones the lowest number goes first."""
    readers = [0] * len(reads)  # how many others still have to come before j
    for i, r in enumerate(reads):
        for j in r:
            if j != i:
                readers[j] += 1
    ready = [i for i, k in enumerate(readers) if k == 0]
    order: list[int] = []
    while ready:
        i = min(ready)
        ready.remove(i)
        order.append(i)
        for j in reads[i]:
            if j != i:
                readers[j] -= 1
                if readers[j] == 0:
                    ready.append(j)
    return order if len(order) == len(reads) else None


def _rows_at(lists: list[list], j: int) -> list[int]:
    """Positions (in the block) of the variables that have a ``j``-th entry in ``lists``."""
    return [i for i, items in enumerate(lists) if len(items) > j]


def _stack(arrays: list[Array]) -> Array:
    return np.stack(arrays) if arrays else np.empty((0, 0))


@dataclass
class _Terms:
    """The ``j``-th term of every variable of a block that has one: block rows, sources, coefficients.

    ``rows`` is None when every variable of the block has a ``j``-th term (no gather needed);
    ``sources`` are row numbers of the model's state matrix (inputs) or of the shock matrix.
    """

    rows: Array | None
    sources: Array
    coefs: Array  # (len(rows), replicates)


def _terms(pairs: list[list[tuple[int, Array]]]) -> list[_Terms]:
    out = []
    for j in range(max((len(p) for p in pairs), default=0)):
        rows = _rows_at(pairs, j)
        out.append(_Terms(None if len(rows) == len(pairs) else np.array(rows),
                          np.array([pairs[i][j][0] for i in rows]),
                          _stack([pairs[i][j][1] for i in rows])))
    return out


class KindBlock:
    """The variables of one mechanism kind that one agent owns, advanced together.

    The variables occupy the consecutive rows ``start..stop-1`` of the model's state matrix
    (shape (rows, replicates)); their parameters are stacked into one table of rows of shape
    (replicates,) for the compiled kernel (and per kind of term, shape (variables, replicates),
    for the numpy reference), so one quarter of the whole block is a few array operations instead of a few per variable.
    The arithmetic is that of ``advance`` in the same order for every element (``drive`` adds the
    inputs in the order listed, then jumps, noise and resets likewise), so the numbers are equal
    bit for bit to advancing the variables one at a time.

    Args:
        variables: compiled variables of one kind, in their state-matrix row order.
        start: the state-matrix row of the first of them.
        row_of: state-matrix row of every reference (variables, ``member``, ``tilt``).
        shock_row: row of every shock in the shock matrix the block is given each quarter.
        columns: optional source of the coefficients' rows (see ``_compile``).
    """

    def __init__(self, variables: list[CompiledVariable], start: int, row_of: dict[str, int],
                 shock_row: dict[str, int], columns=None) -> None:
        self.kind = variables[0].kind
        self.variables = variables
        self.refs = [v.ref for v in variables]
        self.start, self.stop = start, start + len(variables)
        self.noisy = np.array([i for i, v in enumerate(variables) if v.noise is not None], dtype=np.intp)
        self.reset_max = np.array([v.reset == "max" for v in variables])[:, None]
        self.low = np.array([v.bounds[0] for v in variables])[:, None]
        self.high = np.array([v.bounds[1] for v in variables])[:, None]
        self._row_of, self._shock_row = row_of, shock_row
        self._stacked = False
        self._compile(row_of, shock_row, columns)

    def _stack_reference(self) -> None:
        """The parameters stacked per kind of term, for ``advance_numpy`` (built on its first call)."""
        variables, row_of, shock_row = self.variables, self._row_of, self._shock_row
        self.params = {name: _stack([v.params[name] for v in variables]) for name in variables[0].params}
        self.inputs = _terms([[(row_of[r], c) for r, c in v.inputs] for v in variables])
        self.jumps = _terms([[(shock_row[s], c) for s, c in v.jumps] for v in variables])
        self.resets = _terms([[(shock_row[s], c) for s, c in v.resets] for v in variables])
        self.redraw_on = [np.array([shock_row[s] for s in v.redraw_on], dtype=np.intp) for v in variables]
        self.noise = _stack([variables[i].noise for i in self.noisy])
        self._stacked = True

    def _compile(self, row_of: dict[str, int], shock_row: dict[str, int], columns=None) -> None:
        """The block as a ``kernels.advance_block`` program and coefficient table (see there).

        ``columns`` (e.g. ``model.ParamColumns``: ``matrix`` and ``row_index(array)``): when every
        coefficient is one of its rows, the table is that matrix itself (no copy), else a stack.
        """
        rows: list[Array] = []
        n = len(self.variables[0].initial)
        coefs = [a for v in self.variables for a in (*v.params.values(), *(c for _, c in v.inputs),
                                                     *(c for _, c in v.jumps), *(c for _, c in v.resets))]
        coefs += [v.noise for v in self.variables if v.noise is not None]
        shared = columns is not None and all(columns.row_index(a) is not None for a in coefs)

        def row(values: Array) -> int:
            if shared:
                return columns.row_index(values)
            rows.append(values)
            return len(rows) - 1

        bodies = []
        z_row = {int(i): k for k, i in enumerate(self.noisy)}
        for i, v in enumerate(self.variables):
            names = KIND_PARAMS[v.kind]
            body = [i, len(names), *(row(v.params[k]) for k in names), len(v.inputs)]
            body += [i for r, c in v.inputs for i in (row_of[r], row(c))]
            body += [len(v.jumps), *(i for s, c in v.jumps for i in (shock_row[s], row(c)))]
            body += [len(v.resets), *(i for s, c in v.resets for i in (shock_row[s], row(c)))]
            body += [row(v.noise) if v.noise is not None else -1, z_row.get(i, -1), len(v.redraw_on)]
            body += [shock_row[s] for s in v.redraw_on]
            bodies.append(body)
        self._bodies = bodies
        self._set_program(list(range(len(bodies))))
        self._table = columns.matrix if shared else np.stack(rows) if rows else np.empty((0, n))
        self._code = KIND_CODES[self.kind]
        self._low, self._high = self.low[:, 0].copy(), self.high[:, 0].copy()
        self._reset_max = self.reset_max[:, 0].copy()
        self._drive = np.empty(n)
        self._none = np.empty((0, n))
        self._home: Array | None = None  # the state matrix written in place (plan_in_place)

    def _set_program(self, order: list[int]) -> None:
        """The program with the variables advanced in ``order`` (positions in the block)."""
        offsets, at = [], len(order) + 1
        for i in order:
            offsets.append(at)
            at += len(self._bodies[i])
        self._program = np.array(offsets + [at] + [x for i in order for x in self._bodies[i]], dtype=np.int64)

    def plan_in_place(self, state: Array, read_elsewhere: set[int]) -> bool:
        """Write the block's values straight into its rows of ``state``, if that changes nothing.

        ``state``: the model's state matrix (``advance`` given any other array still writes a
        new one). ``read_elsewhere``: state rows read as inputs by the blocks advanced after this
        one in the same phase (from the same start-of-phase state). Writing in place is the same as writing to
        a separate array and copying when no other block reads the block's rows and, within the
        block, each variable is advanced (chunk by chunk) before the variables it reads: so the
        variables are ordered readers first. Not possible (returns False, nothing changed) when
        such reads form a cycle, or a ``product`` reads itself (it starts its row from 1.0).
        """
        rows = range(self.start, self.stop)
        if read_elsewhere.intersection(rows):
            return False
        reads = [{self._row_of[r] - self.start for r, _ in v.inputs} & set(range(len(rows))) for v in self.variables]
        if self.kind == "product" and any(i in r for i, r in enumerate(reads)):
            return False
        order = readers_first(reads)
        if order is None:
            return False
        self._set_program(order)
        self._home = state
        return True

    def read_rows(self) -> set[int]:
        """State rows the block's variables read as inputs."""
        return {self._row_of[r] for v in self.variables for r, _ in v.inputs}

    def advance(self, state: Array, shocks: Array, uniform, normal, in_place: bool = False) -> Array:
        """The block's values next quarter, shape (variables, replicates), from ``state``.

        ``shocks`` is the (shocks, replicates) bool matrix of this quarter;
        ``uniform(purposes)``/``normal(purposes)`` give one row of draws per purpose. The compiled
        ``kernels.advance_block``; ``advance_numpy`` is the same in numpy (the reference).
        ``state`` is not written, and the result is a new array, unless ``in_place`` is asked
        (by a caller that commits the phase's proposals at once, as ``StateAgent.propose``'s do)
        and ``plan_in_place(state, ...)`` allowed it for this ``state``: then the values are
        written into the block's rows of it and the result is that view.
        """
        u = uniform([f"redraw:{ref}" for ref in self.refs]) if self.kind == "redraw_on_shock" else self._none
        z = normal([f"noise:{self.refs[i]}" for i in self.noisy]) if len(self.noisy) else self._none
        mine = in_place and state is self._home
        out = state[self.start:self.stop] if mine else np.empty((len(self.variables), state.shape[1]))
        advance_block(self._code, self._program, self._table, state, self.start, shocks, z, u,
                      self._low, self._high, self._reset_max, out, self._drive)
        return out

    def advance_numpy(self, state: Array, shocks: Array, uniform, normal, in_place: bool = False) -> Array:
        """``advance`` in numpy array operations (the reference the compiled kernel must equal);
        always a new array (``in_place`` is accepted and ignored: the commit copies it)."""
        if not self._stacked:
            self._stack_reference()
        x = state[self.start:self.stop]
        drive = np.zeros_like(x)
        for t in self.inputs:
            _add_terms(drive, t, state)
        fired = u = None
        if self.kind == "redraw_on_shock":
            fired = np.zeros(x.shape, dtype=bool)
            for i, rows in enumerate(self.redraw_on):
                for r in rows:
                    fired[i] |= shocks[r]
            u = uniform([f"redraw:{ref}" for ref in self.refs])
        if self.kind == "product":
            new = np.ones_like(x)
            for t in self.inputs:
                _multiply_terms(new, t, state)
        else:
            new = core_update(self.kind, x, self.params, drive, fired, u)
        for t in self.jumps:
            _add_terms(new, t, shocks)
        if len(self.noisy):
            z = normal([f"noise:{self.refs[i]}" for i in self.noisy])
            new[self.noisy] = new[self.noisy] + self.noise * z
        for t in self.resets:
            hit = shocks[t.sources]
            if t.rows is None:
                new = np.where(hit, np.where(self.reset_max, np.maximum(new, t.coefs), t.coefs), new)
            else:
                cur = new[t.rows]
                target = np.where(self.reset_max[t.rows], np.maximum(cur, t.coefs), t.coefs)
                new[t.rows] = np.where(hit, target, cur)
        return np.clip(new, self.low, self.high, out=new)


def _multiply_terms(acc: Array, t: _Terms, source: Array) -> None:
    """``acc[rows] = acc[rows] * (coefs * source[sources])`` (the ``product`` kind; in place)."""
    term = t.coefs * source[t.sources]
    if t.rows is None:
        np.multiply(acc, term, out=acc)
    else:
        acc[t.rows] = acc[t.rows] * term


def _add_terms(acc: Array, t: _Terms, source: Array) -> None:
    """``acc[rows] = acc[rows] + coefs * source[sources]`` (``acc`` updated in place)."""
    term = source[t.sources]  # a gathered copy: float state is multiplied in place, bool shocks not
    term = np.multiply(t.coefs, term, out=term) if term.dtype == np.float64 else t.coefs * term
    if t.rows is None:
        np.add(acc, term, out=acc)
    else:
        acc[t.rows] = acc[t.rows] + term
