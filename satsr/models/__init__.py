"""The model zoo: registry functions and the registered models (imported explicitly, one file each)."""

from satsr._defaults import DEFAULT_MODEL
from satsr.models import interp as interp
from satsr.models import lgfn as lgfn
from satsr.models import lgtd as lgtd
from satsr.models import mstt as mstt
from satsr.models import mtdo as mtdo
from satsr.models import rgtgan as rgtgan
from satsr.models.checkpoint import grow_weights, load_weights, read_state_dict, save
from satsr.models.ensemble import SelfEnsemble
from satsr.models.factory import create
from satsr.models.reach import Reach, measure_reach
from satsr.models.registry import ModelSpec, Weights, get_spec, list_models, register, wrap

__all__ = [
    "DEFAULT_MODEL", "ModelSpec", "Reach", "SelfEnsemble", "Weights", "create", "get_spec", "list_models",
    "grow_weights", "load_weights", "measure_reach", "read_state_dict", "register", "save", "wrap",
]
