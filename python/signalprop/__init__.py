"""SignalProp from Python: a campaign's output folder as one xarray Dataset.

    >>> import signalprop
    >>> ds = signalprop.load("out/quickstart")      # grid axes × layer, every observable
    >>> ds["q"].sel(activation="tanh", sigma_w=1.5)  # mean over the networks
    >>> ds["q_theory"]                               # the mean-field prediction beside it

``load`` reads ``layers.csv`` (one variable per observable: its mean, ``_stderr``, ``_n`` and
``_theory``), ``points.csv`` and ``spectra.csv`` (as pandas frames, in ``ds.attrs`` via
``points(out)`` and ``spectra(out)``) and ``manifest.json`` (attributes); with ``per_network``,
``networks(out)`` and ``quantiles(out)`` read every network's own values and their quantiles. ``run`` writes a
campaign (a TOML file or a dict), runs the ``signalprop`` binary and loads the result;
``command`` runs any subcommand with ``--json`` (``theory --map q``, ``spectrum --d-law``, …)
and returns its object.
"""

from .reader import CampaignOutputError, GRID_AXES, load, manifest, networks, points, quantiles, spectra
from .runner import SignalPropRunError, binary, command, run, to_toml

__all__ = ["CampaignOutputError", "GRID_AXES", "SignalPropRunError", "binary", "command", "load", "manifest", "networks",
           "points", "quantiles", "run", "spectra", "to_toml"]
