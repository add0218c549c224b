"""The networks of the BReG-Net and BReG-NeXt papers, built by name from declarative specs."""

from .bypass import FUNCTIONS as BYPASS_FUNCTIONS
from .bypass import Bypass, Shortcut, parse_bypass, reference
from .network import BRegNetwork, ResidualUnit, units
from .registry import create_model, get_spec, list_models, resolve_names
from .specs import TABLE1, TABLE2_DEPTHS, NetworkSpec, Stage

__all__ = [
    "BYPASS_FUNCTIONS", "Bypass", "Shortcut", "parse_bypass", "reference", "BRegNetwork", "ResidualUnit",
    "units", "create_model", "get_spec", "list_models", "resolve_names", "TABLE1", "TABLE2_DEPTHS",
    "NetworkSpec", "Stage",
]
