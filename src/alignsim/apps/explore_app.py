"""The explore page: ``solara run src/alignsim/apps/explore_app.py`` (from the repository root).

A Mesa ``SolaraViz`` page over ``explore.ExploreModel`` (one trajectory of the scenario in
``$ALIGNSIM_CONFIG``, default config/base.yaml): sliders for the driver weights and the join
intercept (starting at the priors' medians), the utility gap and every agent's states over time.
The same figures are served as PNG at ``/alignsim/gap.png`` and ``/alignsim/states.png``; the
query string sets sliders and the seed, e.g. ``/alignsim/gap.png?w_regional_instability=2&seed=3``.
"""

from __future__ import annotations

import threading
from html import escape

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from alignsim.errors import ConfigError
from alignsim.apps.explore import ExploreModel, config_path, gap_figure, png_bytes, slider_specs, states_figure, \
    trajectory_png

MAX_QUERY_CHARS = 2048
_LOCK = threading.Lock()  # drawing sets matplotlib rc (figures.save_png); the PNG routes run in threads


def _png_endpoint(request):
    from starlette.responses import PlainTextResponse, Response

    which = request.path_params["which"]
    if which not in ("gap", "states"):
        return PlainTextResponse(f"no figure {which[:40]!r}; expected gap or states", status_code=404)
    if len(request.url.query) > MAX_QUERY_CHARS:
        return PlainTextResponse(f"error: query: a query string of at most {MAX_QUERY_CHARS} characters",
                                 status_code=400)
    try:
        with _LOCK:
            png = trajectory_png(which, dict(request.query_params))
    except ConfigError as exc:
        return PlainTextResponse(f"error: {exc}", status_code=400)
    return Response(png, media_type="image/png")


def add_png_routes() -> None:
    """Put the PNG routes first in the Solara server's route table (once per server)."""
    try:
        from solara.server import starlette as server
    except ImportError:  # not under the Solara server (e.g. imported in a notebook)
        return
    from starlette.routing import Route

    route = Route("/alignsim/{which}.png", _png_endpoint, methods=["GET"])
    routes = server.app.router.routes
    if not any(getattr(r, "path", None) == route.path for r in routes):
        routes.insert(0, route)


def _show(model, figure) -> None:
    """Redraw ``figure(history, scenario)`` of the trajectory stepped so far, as a PNG image."""
    update_counter.get()
    with _LOCK:
        png = png_bytes(figure(model.history, model.scenario))
    solara.Image(png, format="png")


@solara.component
def GapPlot(model):
    """The utility gap dU over the quarters stepped so far."""
    _show(model, gap_figure)


@solara.component
def StatesPlot(model):
    """Every agent's state variables, one panel per actor in its colour."""
    _show(model, states_figure)


@solara.component
def Status(model):
    """The current quarter, membership and dU as text (plain HTML: ``solara.Markdown`` fetches
    KaTeX from the CDN, which solara-assets does not bundle, so it would break the page offline)."""
    update_counter.get()
    f = model.focal
    quarter = model.axis.quarter_of(model.steps) if model.steps else f"start of {model.scenario.start}"
    solara.HTML(tag="p", unsafe_innerHTML=(
        f"<b>{escape(str(quarter))}</b> (step {model.steps} of {model.axis.n_steps}): "
        f"member of {escape(model.scenario.bloc.short)}: <b>{bool(f.member[0])}</b>, "
        f"utility gap dU = <b>{float(f.gap[0]):+.3f}</b> logit units."))


add_png_routes()
_CONFIG = config_path()
_SPECS = {k: {kk: vv for kk, vv in v.items() if kk != "path"} for k, v in slider_specs(ExploreModel(_CONFIG).scenario).items()}
model_params = {"config": _CONFIG,
                "seed": {"type": "SliderInt", "value": 0, "label": "seed", "min": 0, "max": 100, "step": 1},
                **_SPECS}
model = ExploreModel(_CONFIG)
page = SolaraViz(model, components=[(Status, 0), (GapPlot, 0), (StatesPlot, 0)], model_params=model_params,
                 name=f"alignsim: {model.scenario.name} (one trajectory)")
page  # noqa: B018 - Solara renders the module's last expression / ``page``
