"""Powers that choose: a logit (quantal-response) choice each quarter on expected utility.

Each strategic power ``i`` has a quarterly utility (arrays of shape (replicates,))

    U_i = sum_terms sign * weight * obs  -  sum_{own chosen policies p} cost_p * x_p**2

where ``obs`` is ``member``, ``tilt``, ``best_alternative`` or a variable's value. Each quarter,
for each chosen policy ``p`` it picks ``a`` in {-1, 0, +1} (retreat / hold / expand, the level
moving by ``a * step_p`` and staying there) with

    P(a) = exp(precision * EU(a)) / sum_b exp(precision * EU(b)),
    EU(a) = E[ sum_{h=1..H} delta**h U_i(t + h) + sum_{h>H} delta**h U_i(t + H) | a now, then hold ]

(relative to EU(0)), with the quarterly discount factor delta = (1 + r)**-0.25 from the annual
rate ``powers.discount`` r. A chosen level persists, so it is valued over its whole discounted
duration: after the horizon the state at the horizon is held, except membership, whose expected
discounted quarters follow from the switching chance at the horizon (``member_tail``). Without
``powers.discount``, delta = 1 and nothing after the horizon counts (an 8-quarter sum values a
persistent level's cost in full but most of its lagged effects not at all: near-uniform choices).

Utility is measured in the power's own unit: keeping its first chosen policy at full scale
(x = 1) for one quarter costs ``cost`` units. The other powers are expected to repeat their last
choices; every power decides on the same start-of-quarter state (simultaneous moves).

Two look-aheads (``powers.lookahead.method``):

- ``model``: the model itself, ``samples`` rollouts of ``horizon`` quarters on the look-ahead's
  own random streams (purposes prefixed ``look<t>:<s>:``, never the run's own), the same streams
  for each option (common random numbers), the state restored afterwards.
- ``linear`` (fast): the responses of every variable and of the pull to a unit change of each
  chosen policy, G(h), come once per batch from deterministic rollouts of the model's own
  mechanisms (no shocks, no noise, membership held). Each quarter, with D = sum_h G(h):
  d tilt -> (1 - tilt**2) D_pull; d member -> sigma'(z) sum_h sum_{k<=h} G_pull(k) with z the
  current join (or leave) logit; a variable -> D_var; the quadratic cost is exact. Discounted,
  D = sum_h delta**h G(h) + tail G(H), and membership weighs each quarter by delta**h and the
  chance of no switch before it (``slopes``). The slopes are taken at the pull shifted by the
  other powers' last choices. ``scripts/powers_table.py`` measures its error against ``model``.

Choices use the stream ``choice:<policy ref>`` at the current step: they do not depend on the
batch size or the worker, and not on any later random number of the run.

With the linear look-ahead, ``choose`` runs on compiled loops (``choice_plan``,
``choice_kernels``); ``choose_numpy`` is the same in numpy, the reference they equal bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alignsim.engine.agents import PowerAgent
from alignsim.engine.choice_plan import LinearChoicePlan
from alignsim.scenario import Scenario

Array = np.ndarray
ACTIONS = np.array([-1.0, 0.0, 1.0])
BUMP = 1e-3  # size of the finite-difference change behind the linear responses
TILT_EDGES = np.linspace(-1.0, 1.0, 41)  # fixed bins (width 0.05) of the focal state's tilt for the choice counts


@dataclass(eq=False)
class ChosenPolicy:
    ref: str          # policies.ACTOR.NAME
    step: Array       # (n,)
    cost: Array       # (n,)
    last: Array = field(default=None)  # type: ignore[assignment]  # (n,) last choice in {-1, 0, 1}


@dataclass(eq=False)
class StrategicPower:
    actor: str
    terms: list[tuple[str, str | None, Array]]  # (observable or ref, optional factor ref, signed weight (n,))
    options: list[ChosenPolicy]


class Strategy:
    """The strategic powers of one batch; ``choose`` sets every chosen policy for one quarter.

    ``history`` (only when ``record`` is true) holds, per step, ``{policy ref: choice (n,) int8}``
    and ``"_tilt"``: the focal state's tilt the powers saw when choosing.
    """

    def __init__(self, model, scenario: Scenario, params: pd.DataFrame, record: bool = False) -> None:
        col = lambda name: params[name].to_numpy(dtype=np.float64)  # noqa: E731
        cfg = scenario.powers
        self.model = model
        self.method = cfg.lookahead.method
        self.horizon = cfg.lookahead.horizon
        self.samples = cfg.lookahead.samples
        self.precision = col("powers.precision")
        n = model.n
        self._discounting(col("powers.discount") if cfg.discount is not None else None, n)
        self.powers: list[StrategicPower] = []
        for actor, strat in cfg.actors.items():
            pre = f"powers.actors.{actor}"
            terms = [(t.of, t.times, t.sign * col(f"{pre}.utility.{k}.weight")) for k, t in strat.utility.items()]
            options = [ChosenPolicy(f"policies.{actor}.{p}", col(f"{pre}.options.{p}.step"),
                                    col(f"{pre}.options.{p}.cost"), np.zeros(n)) for p in strat.options]
            self.powers.append(StrategicPower(actor, terms, options))
        self.chosen = [o for pw in self.powers for o in pw.options]
        self.chosen_refs = {o.ref for o in self.chosen}
        for agent in model.agents_by_type.get(PowerAgent, []):  # their rules' values would be overwritten
            agent.hold({model.row_of[r] for r in self.chosen_refs})
        self.record = record
        self.history: list[dict[str, Array]] = []
        self.counts = np.zeros((model.axis.n_steps, len(self.chosen), 3), np.int64)  # (T, policies, options)
        self.tilt_counts = np.zeros((len(self.chosen), len(TILT_EDGES) - 1, 3), np.int64)  # (policies, bins, options)
        self._vars = {v.ref: v for a in model.agents for v in a.variables}
        self._gains: dict[str, dict[str, Array]] | None = None
        self._plan: LinearChoicePlan | None = None

    # ------------------------------------------------------------------ utility
    def observe(self, of: str) -> Array:
        focal = self.model.focal
        if of == "member":
            return focal.member.astype(np.float64)
        if of == "tilt":
            return np.tanh(focal.pull)
        if of == "best_alternative":
            return focal.best_alternative
        return self._vars[of].value

    def _discounting(self, rate: Array | None, n: int) -> None:
        """Per-quarter weights ``disc`` (H, n) = delta**h, h = 1..H, and the tail factor
        ``tail`` (n,) = sum_{h > H} delta**h = delta**(H+1) / (1 - delta), with the quarterly
        factor delta = (1 + r)**-0.25 from the annual rate r; undiscounted: ones and 0."""
        h = np.arange(1, self.horizon + 1, dtype=np.float64)[:, None]
        if rate is None:
            self.delta = None
            self.disc, self.tail = np.ones((self.horizon, n)), np.zeros(n)
        else:
            self.delta = (1.0 + rate) ** -0.25
            self.disc = self.delta[None, :] ** h
            self.tail = self.delta ** (self.horizon + 1) / (1.0 - self.delta)
        self.annuity = self.disc.sum(axis=0) + self.tail  # delta / (1 - delta) when discounted

    def _hazard(self, shift: Array | None = None) -> tuple[Array, Array]:
        """The focal state's current chance of switching (join if out, leave if in) and its
        slope d P / d gap, shape (n,) each; ``shift`` moves the gap (the other powers' choices)."""
        focal = self.model.focal
        gap = focal.gap if shift is None else focal.gap + shift
        z = np.where(focal.member, focal.leave_intercept - gap, focal.join_intercept + gap)
        p = 1.0 / (1.0 + np.exp(-z))
        return p, p * (1.0 - p)

    def member_tail(self) -> Array:
        """Expected discounted quarters in the bloc after the horizon, from the state at the
        horizon with the current switching chance p held: a member stays with chance 1 - p a
        quarter, a non-member joins with chance p and then stays. Shape (n,); 0 undiscounted.

            member:     delta**H * delta (1 - p) / (1 - delta (1 - p))
            non-member: tail - delta**H * delta (1 - p) / (1 - delta (1 - p))
        """
        if self.delta is None:
            return np.zeros(self.model.n)
        p, _ = self._hazard()
        d = self.delta
        stay = d ** self.horizon * d * (1.0 - p) / (1.0 - d * (1.0 - p))
        return np.where(self.model.focal.member, stay, self.tail - stay)

    def utility(self, power: StrategicPower, member: Array | None = None) -> Array:
        """U_i at the current state, shape (n,); ``member`` replaces the 0/1 membership."""
        u = np.zeros(self.model.n)
        for of, times, w in power.terms:
            obs = member if (of == "member" and member is not None) else self.observe(of)
            u += w * obs * (self._vars[times].value if times else 1.0)
        for o in power.options:
            u -= o.cost * self._vars[o.ref].value ** 2
        return u

    # ------------------------------------------------------------------ the choice
    def choose(self) -> list[tuple[ChosenPolicy, Array, Array]]:
        """``choose_numpy``'s picks, by compiled loops for the linear look-ahead
        (``choice_plan.LinearChoicePlan``, equal bit for bit); the model look-ahead stays numpy.

        A batch of one replicate also stays numpy: there ``np.einsum`` in ``_linear_pm`` sums the
        membership weights in another order than for two or more (the kernel's order), so the
        compiled loops would differ from it in the last bits of the expected utilities.
        """
        if self.method != "linear" or self.model.n < 2:
            return self.choose_numpy()
        if self._plan is None:
            if self._gains is None:
                self._prepare_linear()
            self._plan = LinearChoicePlan(self, TILT_EDGES)
        tilt, a, level = self._plan.choose(self)
        picks = [(opt, a[i], level[i]) for i, opt in enumerate(self.chosen)]
        if self.record:
            self.history.append({"_tilt": tilt, **{opt.ref: a for opt, a, _ in picks}})
        return picks

    def choose_numpy(self) -> list[tuple[ChosenPolicy, Array, Array]]:
        """Every power picks an option per chosen policy from the current (start-of-phase) state.

        With EU(hold) = 0: P(retreat) = e_-/(1 + e_- + e_+), P(expand) = e_+/(1 + e_- + e_+),
        e_+- = exp(precision * EU(+-)); with u from the policy's choice stream, retreat if
        u < P(retreat), expand if u >= 1 - P(expand), else hold. Returns (policy, choice,
        new level) for ``apply``: all powers move at once, after the rule-based policies.
        """
        model = self.model
        tilt = np.tanh(model.focal.pull)  # the focal state's lean as the powers see it
        picks: list[tuple[ChosenPolicy, Array, Array]] = []
        for power in self.powers:
            slopes = self.slopes(power) if self.method == "linear" else None
            for opt in power.options:
                if slopes is not None:
                    eu_m, eu_p = self._linear_pm(power, opt, slopes)
                else:
                    eu = self.lookahead_model(power, opt)  # (3, n), row 1 = 0
                    eu_m, eu_p = eu[0], eu[2]
                e_m, e_p = self.precision * eu_m, self.precision * eu_p
                for e in (e_m, e_p):
                    np.exp(np.clip(e, -700.0, 700.0, out=e), out=e)
                total = 1.0 + e_m + e_p
                u = model.uniform(f"choice:{opt.ref}")
                a = (u >= e_m / total).astype(np.int8) + (u >= 1.0 - e_p / total).astype(np.int8) - 1
                var = self._vars[opt.ref]
                picks.append((opt, a, np.clip(var.value + opt.step * a, *var.bounds)))
        if self.record:
            self.history.append({"_tilt": tilt, **{opt.ref: a for opt, a, _ in picks}})
        self._count(picks, tilt)
        return picks

    def _count(self, picks: list[tuple[ChosenPolicy, Array, Array]], tilt: Array) -> None:
        """Add this step's choices to ``counts`` (per step) and ``tilt_counts`` (per fixed tilt
        bin, ``TILT_EDGES``): integer counts, so batches add up to the same totals in any split."""
        t = self.model.steps - 1
        if not 0 <= t < len(self.counts):
            return
        bins = np.clip(np.searchsorted(TILT_EDGES, tilt, side="right") - 1, 0, len(TILT_EDGES) - 2)
        for i, (_, a, _) in enumerate(picks):
            self.counts[t, i] = np.bincount(a + 1, minlength=3)
            self.tilt_counts[i] += np.bincount(bins * 3 + (a + 1), minlength=self.tilt_counts[i].size).reshape(-1, 3)

    def apply(self, picks: list[tuple[ChosenPolicy, Array, Array]]) -> None:
        """Write the chosen levels into the state and remember each choice as the power's last."""
        for opt, a, level in picks:
            self._set(opt.ref, level)
            opt.last = a.astype(np.float64)

    def _set(self, ref: str, values: Array) -> None:
        self.model.state_matrix[self.model.row_of[ref]] = values

    def expected_utility(self, power: StrategicPower, opt: ChosenPolicy) -> Array:
        """EU of retreat / hold / expand relative to hold, shape (3, n)."""
        if self.method == "model":
            return self.lookahead_model(power, opt)
        return self.lookahead_linear(power, opt)

    def _cost_change(self, opt: ChosenPolicy) -> tuple[Array, Array]:
        """Levels after retreat / hold / expand (3, n) and the change of the summed cost (3, n)."""
        x = self._vars[opt.ref].value
        lo, hi = self._vars[opt.ref].bounds
        new = np.stack([np.maximum(x - opt.step, lo), x, np.minimum(x + opt.step, hi)])
        return new, (opt.cost * self.annuity) * (new * new - x * x)

    # ------------------------------------------------------------------ linear look-ahead
    def _prepare_linear(self) -> None:
        """Responses once per batch; the state-free part of each option's marginal utility."""
        self._gains = self.linear_responses()
        self._fixed_marginal = {}
        for power in self.powers:
            for opt in power.options:
                g = self._gains[opt.ref]
                self._fixed_marginal[opt.ref] = sum((w * g[of] for of, times, w in power.terms
                                                     if times is None and of not in ("tilt", "member")),
                                                    np.zeros(self.model.n))

    def slopes(self, power: StrategicPower) -> tuple[Array, Array]:
        """d tilt / d pull, shape (n,), and the membership weights (H + 2, n) at the pull shifted
        by the other powers' last choices (repeated each quarter).

        With p the switching chance, q = 1 - p and rho = delta q, a persistent change that moves
        the pull by G(k) at quarter k and by C(h) = sum_{k<=h} G(k) in total by h changes the
        expected discounted quarters in the bloc by

            p (1 - p) [ sum_{h<=H} delta**h q**(h-1) C(h)
                        + delta**(H+1) q**H (C(H) / (1 - rho) + G(H) / (1 - rho)**2) ]

        (the tail: C grows by G(H) a quarter after the horizon). Rows 0..H-1 weigh C(1..H),
        row H weighs C(H), row H+1 weighs G(H); undiscounted, the tail rows are 0.
        """
        if self._gains is None:
            self._prepare_linear()
        shift = None
        for o in self.chosen:
            if o not in power.options and o.last.any():
                term = (o.last * o.step) * self._gains[o.ref]["_ramp"]
                shift = term if shift is None else shift + term
        focal = self.model.focal
        t = np.tanh(focal.pull if shift is None else focal.pull + shift)
        p, slope = self._hazard(shift)
        q = 1.0 - p
        H = self.horizon
        weights = np.empty((H + 2, self.model.n))
        rho = q if self.delta is None else self.delta * q  # one more quarter: discounted, survived
        weights[0] = self.disc[0] * slope
        for h in range(1, H):
            np.multiply(weights[h - 1], rho, out=weights[h])   # delta**(h+1) q**h slope
        if self.delta is None:
            weights[H:] = 0.0
        else:
            inv = 1.0 / (1.0 - rho)
            np.multiply(weights[H - 1] * rho, inv, out=weights[H])  # delta**(H+1) q**H slope / (1 - rho)
            np.multiply(weights[H], inv, out=weights[H + 1])
        return 1.0 - t * t, weights

    def lookahead_linear(self, power: StrategicPower, opt: ChosenPolicy,
                         slopes: tuple[Array, Array] | None = None) -> Array:
        """EU of retreat / hold / expand relative to hold by the linear look-ahead, shape (3, n)."""
        eu_m, eu_p = self._linear_pm(power, opt, slopes)
        return np.stack([eu_m, np.zeros_like(eu_m), eu_p])

    def _linear_pm(self, power: StrategicPower, opt: ChosenPolicy,
                   slopes: tuple[Array, Array] | None = None) -> tuple[Array, Array]:
        """(EU(retreat), EU(expand)) relative to hold, (n,) each: for a level change d (the step,
        clipped at the bounds), d * (marginal utility - cost * annuity * (2 x + d))."""
        if self._gains is None:
            self._prepare_linear()
        tilt_slope, member_weights = slopes if slopes is not None else self.slopes(power)
        g = self._gains[opt.ref]
        marginal = self._fixed_marginal[opt.ref].copy()
        for of, times, w in power.terms:
            if of == "tilt":
                d = tilt_slope * g["pull"]
            elif of == "member":
                d = np.einsum("hn,hn->n", member_weights, g["_member_paths"])
            elif times is None:
                continue  # in the fixed part
            else:
                d = g[of]
            if times is not None:  # product rule: d(of * times) = times d(of) + of d(times)
                d = self._vars[times].value * d + self.observe(of) * g[times]
            marginal += w * d
        var = self._vars[opt.ref]
        x, (lo, hi) = var.value, var.bounds
        down = np.maximum(x - opt.step, lo) - x
        up = np.minimum(x + opt.step, hi) - x
        curve = opt.cost * self.annuity  # the cost of level x + d less that of x: curve * d * (2 x + d)
        two_x = 2.0 * x
        return down * (marginal - curve * (two_x + down)), up * (marginal - curve * (two_x + up))

    def linear_responses(self) -> dict[str, dict[str, Array]]:
        """Per chosen policy: discounted responses D = sum_{h<=H} delta**h G(h) + tail G(H) of
        the pull, of every observed variable and of best_alternative to a unit persistent change,
        shape (n,) each (undiscounted: sum_h G(h)); ``_member_paths`` (H + 2, n): C(1..H), C(H),
        G(H) of the pull for ``slopes``' membership weights; ``_ramp`` (mean_h C(h), the response
        to a change repeated every quarter)."""
        keys = sorted({k for pw in self.powers for of, times, _ in pw.terms for k in (of, times)
                       if k is not None and k not in ("member", "tilt")})
        base_blocks: dict[tuple[int, int], Array] = {}
        base = self._deterministic_path(None, keys, base_blocks)
        out = {}
        for opt in self.chosen:
            bumped = self._deterministic_path(opt.ref, keys, base_blocks)
            d = {k: (bumped[k] - base[k]) / BUMP for k in base}          # (H, n) each: G(h)
            resp = {k: (self.disc * v).sum(axis=0) + self.tail * v[-1] for k, v in d.items()}
            cum = np.cumsum(d["pull"], axis=0)
            resp["_member_paths"] = np.concatenate([cum, cum[-1:], d["pull"][-1:]])
            resp["_ramp"] = cum.mean(axis=0)  # a +1 change every quarter moves the pull by cum(h) at h
            out[opt.ref] = resp
        return out

    def _deterministic_path(self, bumped: str | None, keys: list[str],
                            base_blocks: dict[tuple[int, int], Array] | None = None) -> dict[str, Array]:
        """(H, n) paths of the pull and ``keys`` with no shocks, no noise and membership held;
        chosen policies hold their level (``bumped`` raised by ``BUMP``).

        ``base_blocks`` ((step, block) -> its values): the base path (``bumped`` None) fills it;
        a bumped path takes from it the values of every block the bump cannot reach
        (``_reachable``): the same inputs, so the same values as advancing it.
        """
        model, focal = self.model, self.model.focal
        saved = self._save()
        quiet = np.zeros_like(model.shock_matrix)
        zeros: dict[int, Array] = {}  # read-only rows of zero draws, one array per count (no fresh pages)

        def zero_rows(purposes: list[str]) -> Array:
            if len(purposes) not in zeros:
                zeros[len(purposes)] = np.zeros((len(purposes), model.n))
            return zeros[len(purposes)]
        rows = [model.row_of[r] for r in sorted(self.chosen_refs)]
        chosen_rows = set(rows)
        moving = [b for agent in model.agents_by_type.get(PowerAgent, []) for b in agent.blocks
                  if not chosen_rows.issuperset(range(b.start, b.stop))]  # the rest are held anyway
        # the observables some advancing variable reads (chosen policies are held): the others'
        # rows would be written and never read before the state is restored
        read = {r for b in (*moving, *focal.blocks) for v in b.variables for r, _ in v.inputs}
        observed = [name for name in model._observed if name in read]
        blocks = [*moving, *focal.blocks]
        reuse = set() if bumped is None or base_blocks is None else set(range(len(blocks))) - self._reachable(bumped, blocks)
        record = base_blocks if bumped is None else None

        def advance(step: int, first: int, phase_blocks: list) -> list:
            done = []
            for i, b in enumerate(phase_blocks, start=first):
                values = base_blocks[step, i] if i in reuse else b.advance(model.state_matrix, quiet, zero_rows, zero_rows)
                if record is not None:
                    record[step, i] = values
                done.append((b, values))
            return done

        if bumped is not None:
            model.state_matrix[model.row_of[bumped]] += BUMP
        path: dict[str, list[Array]] = {k: [] for k in ("pull", *keys)}
        try:
            for h in range(self.horizon):
                for phase in model.scenario.order:
                    if phase == "policies":
                        held = model.state_matrix[rows].copy()
                        model._commit(advance(h, 0, moving))
                        model.state_matrix[rows] = held
                    elif phase == "drivers":
                        model._commit(advance(h, len(moving), focal.blocks))
                    elif phase == "decision":
                        focal.contributions = focal.current_contributions()
                        focal.pull = focal.contributions.sum(axis=0)
                        focal.gap = focal.pull - focal.barrier.value
                        model._observe(observed)
                path["pull"].append(focal.pull.copy())
                for k in keys:
                    path[k].append(np.array(self.observe(k), copy=True))
        finally:
            self._restore(saved)
        return {k: np.stack(v) for k, v in path.items()}

    def _reachable(self, bumped: str, blocks: list) -> set[int]:
        """Indices of the ``blocks`` with a variable the change of ``bumped`` can reach in a
        deterministic path: through the variables' inputs, and through ``tilt`` once any focal
        variable moves (the pull does); membership is held there, so ``member`` never moves."""
        focal_refs = {v.ref for b in self.model.focal.blocks for v in b.variables}
        reached, grew = {bumped}, True
        while grew:
            grew = False
            tilt = not reached.isdisjoint(focal_refs)
            for b in blocks:
                for v in b.variables:
                    if v.ref not in reached and any(r in reached or (r == "tilt" and tilt) for r, _ in v.inputs):
                        reached.add(v.ref)
                        grew = True
        return {i for i, b in enumerate(blocks) if any(v.ref in reached for v in b.variables)}

    # ------------------------------------------------------------------ model look-ahead
    def lookahead_model(self, power: StrategicPower, opt: ChosenPolicy, first_sample: int = 0) -> Array:
        """Mean over samples of the summed utility over the horizon for each action (CRN);
        samples ``first_sample .. first_sample + samples - 1`` of the look-ahead streams."""
        model = self.model
        t = model.steps
        new, _ = self._cost_change(opt)
        eu = np.zeros((3, model.n))
        for s in range(first_sample, first_sample + self.samples):
            for i in range(3):
                saved = self._save()
                try:
                    self._set(opt.ref, new[i])
                    eu[i] += self._rollout(power, f"look{t}:{s}:")
                finally:
                    self._restore(saved)
        eu /= self.samples
        return eu - eu[1]

    def _rollout(self, power: StrategicPower, tag: str) -> Array:
        """Summed U_i over ``horizon`` quarters of the model on the streams prefixed ``tag``: the
        power holds its chosen levels, the others repeat their last choices, the rest is the model."""
        model, focal = self.model, self.model.focal
        own = {o.ref for o in power.options}
        rows = [(o, model.row_of[o.ref], self._vars[o.ref].bounds) for o in self.chosen]
        powers = model.agents_by_type.get(PowerAgent, [])
        total = np.zeros(model.n)
        start = model.steps
        model.stream_tag = tag
        try:
            for h in range(1, self.horizon + 1):
                model.steps = start + h
                for phase in model.scenario.order:
                    if phase == "shocks":
                        model.draw_shocks()
                    elif phase == "policies":
                        before = [model.state_matrix[r].copy() for _, r, _ in rows]
                        model._commit([p for agent in powers for p in agent.propose(model.state_matrix)])
                        for (o, r, (lo, hi)), x in zip(rows, before):
                            model.state_matrix[r] = x if o.ref in own else np.clip(x + o.step * o.last, lo, hi)
                    elif phase == "drivers":
                        model._commit(focal.propose(model.state_matrix))
                    elif phase == "decision":
                        focal.decide(*model.decision_shifts())
                        model._observe(model._observed)
                total += self.disc[h - 1] * self.utility(power)
            if self.delta is not None:  # the state at the horizon, valued as persisting
                total += self.tail * self.utility(power, member=self.member_tail() / self.tail)
        finally:
            model.stream_tag = ""
            model.steps = start
        return total

    # ------------------------------------------------------------------ state save / restore
    def _save(self) -> dict:
        focal = self.model.focal
        return {"state": self.model.state_matrix.copy(), "shocks": self.model.shock_matrix.copy(),
                "focal": {k: v.copy() for k, v in vars(focal).items() if isinstance(v, np.ndarray)}}

    def _restore(self, saved: dict) -> None:
        self.model.state_matrix[:] = saved["state"]
        self.model.shock_matrix[:] = saved["shocks"]
        for k, value in saved["focal"].items():
            setattr(self.model.focal, k, value)


def choice_table(history: list[dict[str, Array]], first_replicate: int) -> pd.DataFrame:
    """Long table (step, replicate, policy, choice, tilt) from a recorded ``Strategy.history``."""
    frames = []
    for step, picks in enumerate(history, start=1):
        tilt = picks["_tilt"]
        for ref, a in picks.items():
            if ref != "_tilt":
                frames.append(pd.DataFrame({"step": step, "replicate": np.arange(first_replicate, first_replicate + len(a)),
                                            "policy": ref, "choice": a.astype(np.int8), "tilt": tilt}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["step", "replicate", "policy", "choice", "tilt"])


def choice_counts_table(scenario: Scenario, counts: Array) -> pd.DataFrame:
    """Tidy table (step, quarter, power, policy, option, label, count, share) from ``Strategy.counts``
    summed over batches, shape (steps, policies, 3); ``option`` -1 / 0 / 1 (retreat / hold / expand)."""
    axis = scenario.axis
    rows = []
    policies = [(a, p, o.labels) for a, st in scenario.powers.actors.items() for p, o in st.options.items()]
    for i, (actor, policy, labels) in enumerate(policies):
        c = counts[:, i, :]
        total = np.maximum(c.sum(axis=1, keepdims=True), 1)
        for k, option in enumerate((-1, 0, 1)):
            rows.append(pd.DataFrame({"step": np.arange(1, len(c) + 1), "power": actor, "policy": policy,
                                      "option": option, "label": labels[k], "count": c[:, k],
                                      "share": c[:, k] / total[:, 0]}))
    out = pd.concat(rows, ignore_index=True)
    out.insert(1, "quarter", [str(axis.quarter_of(int(t))) for t in out["step"]])
    return out


def choice_tilt_table(scenario: Scenario, tilt_counts: Array) -> pd.DataFrame:
    """Tidy table (power, policy, tilt_low, tilt_high, option, label, count, share) from
    ``Strategy.tilt_counts`` summed over batches, shape (policies, bins, 3)."""
    rows = []
    policies = [(a, p, o.labels) for a, st in scenario.powers.actors.items() for p, o in st.options.items()]
    for i, (actor, policy, labels) in enumerate(policies):
        c = tilt_counts[i]
        total = np.maximum(c.sum(axis=1), 1)
        for k, option in enumerate((-1, 0, 1)):
            rows.append(pd.DataFrame({"power": actor, "policy": policy, "tilt_low": TILT_EDGES[:-1],
                                      "tilt_high": TILT_EDGES[1:], "option": option, "label": labels[k],
                                      "count": c[:, k], "share": c[:, k] / total}))
    return pd.concat(rows, ignore_index=True)
