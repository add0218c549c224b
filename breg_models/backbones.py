"""The backbones of DACL and CAF, built from torchvision's own definitions behind `create_model`.

=====================  ===========================================================  =========================
name                   network                                                      used by
=====================  ===========================================================  =========================
``tv_resnet18``        torchvision ``resnet18``, its ``fc`` sized to the task        DACL (WACV 2021), CAF
``tv_resnet50``        torchvision ``resnet50``, its ``fc`` sized to the task        DACL
``tv_alexnet``         torchvision ``alexnet``, its last FC (``classifier.6``) sized  the AffectNet baseline
                       to the task (4096-4096 hidden FC layers, 57M parameters)      CAF's Table 1 cites
``tv_alexnet_tuned``   CAF's "AlexNet (tuned)": torchvision's AlexNet with its FC    CAF (AAAI 2021)
                       layers reduced to 9216-64-8-outputs
=====================  ===========================================================  =========================

The ``tv_`` prefix keeps these apart from the zoo's ``resnet32``/``resnet50`` (BReG-NeXt Table 1's ResNets, a
different layout) and marks them as torchvision's networks: nothing here writes a layer of them again, so their
parameter counts are torchvision's with the head replaced. ``list_models()`` keeps listing the BReG networks
only (the BReG tables iterate over it); ``list_models(backbones=True)`` adds these.

CAF's "tuned" AlexNet. The paper says only that it "is a reduced model of FC layers of AlexNet" (Table 1's
caption), trained from scratch, and leaves the layout to its supplement. The authors' public code
(kdhht2334/Contrastive-Adversarial-Learning-FER, ``src/models.py``) gives it: the encoder is AlexNet's
convolutional ``features``, and the regressor is AlexNet's own avgpool (6x6), dropout, Linear(9216, 64), ReLU,
dropout, Linear(64, 8), ReLU, Linear(8, 2), its dropouts and ReLUs being AlexNet's (p = 0.5). That is
torchvision's ``classifier`` with hidden widths 64 and 8 instead of 4096 and 4096, so ``tv_alexnet_tuned`` keeps
torchvision's module names (``classifier.1``, ``.4``, ``.6``) and only narrows those three Linear layers. It
holds 3,060,122 parameters with the dimensional head, the 3.0M CAF's Table 4 prints for "AlexNet (tuned)"
without the critic; the critic of the same code (Linear 9216-64-32-16, 592,496 values) brings it to the 3.6M
of Tables 1 and 4. Its head, the part a loaded state dict may leave fresh, is the whole ``classifier``.

Heads follow the zoo's (`network._outputs`): ``categorical`` has ``num_classes`` logits (8 by default),
``dimensional`` a plain Linear layer with 2 outputs (valence, arousal), no tanh, as the zoo's BN-ELU-GAP-FC head
and CAF's ``va_regressor``. The ResNets gain ``features(x)``, the last convolutional feature map (``layer4``'s
output), which DACL's attention reads and whose global average pool ``fc`` takes, as the zoo's networks do.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

BACKBONE_EXTRA = "backbones"


@dataclass(frozen=True)
class BackboneSpec:
    """What `bench.flops` and the registry read of a network (the zoo's `NetworkSpec` has the same fields)."""

    name: str
    title: str
    builder: str  # the torchvision.models function that builds it
    depth: int  # weighted layers, as the network's name counts them
    units: int  # residual blocks (0: AlexNet has none)
    head: str  # the module a loaded state dict may leave fresh where its shapes differ
    hidden: tuple[int, int] | None = None  # AlexNet's two hidden FC widths; None keeps torchvision's 4096, 4096
    bypass: str = "none"  # no bounded-gradient bypass: `create_model(..., bypass=...)` is refused
    critic: tuple[int, ...] | None = None  # CAF's critic widths after the latent input; None: Disc2_light's 64-32-16
    min_side: int = 1  # the smallest input side the network takes (AlexNet's stride-4 stem and 3 max-pools: 63)
    note: str = ""


BACKBONES: dict[str, BackboneSpec] = {
    "tv_resnet18": BackboneSpec("tv_resnet18", "ResNet-18 (torchvision)", "resnet18", 18, 8, "fc",
                                note="DACL's backbone (MS-Celeb-1M initialisation) and one of CAF's encoders"),
    "tv_resnet50": BackboneSpec("tv_resnet50", "ResNet-50 (torchvision)", "resnet50", 50, 16, "fc",
                                note="DACL's deeper backbone"),
    "tv_alexnet": BackboneSpec("tv_alexnet", "AlexNet (torchvision)", "alexnet", 8, 0, "classifier.6", min_side=63,
                               note="torchvision's AlexNet, its last FC layer sized to the task"),
    "tv_alexnet_tuned": BackboneSpec("tv_alexnet_tuned", "AlexNet (tuned, CAF)", "alexnet", 8, 0, "classifier",
                                     hidden=(64, 8), critic=(64, 32, 16), min_side=63,
                                     note="CAF's reduced FC layers: 9216-64-8-outputs"),
}


# ---------------------------------------------------------------- torchvision, imported on first use
_DECLARED_OPS = []  # keeps the stand-in op declarations alive (a collected Library drops its registrations)


def torchvision_models():
    """``torchvision.models``, imported on first use; ImportError in one line where torchvision is absent."""
    if importlib.util.find_spec("torchvision") is None:
        raise ImportError(f"the torchvision backbones ({', '.join(BACKBONES)}) need torchvision: install the "
                          f"'{BACKBONE_EXTRA}' extra (pip install -e '.[{BACKBONE_EXTRA}]')")
    _declare_ops_if_extension_unloadable()
    import torchvision.models

    return torchvision.models


def _declare_ops_if_extension_unloadable() -> None:
    """Let torchvision import where its compiled ops cannot load (pytorch/vision#9085).

    PyPI's Linux torchvision wheels are CUDA builds: beside a CPU torch (CI's torch 2.13.0+cpu) their ``_C``
    extension cannot load (it links libtorch_cuda), which torchvision tolerates (its ops then raise "Couldn't
    load custom C++ ops" when called), but its import still registers fake kernels for ``torchvision::nms`` and
    ``torchvision::qnms`` and fails with "operator torchvision::nms does not exist". The networks here use none
    of those ops; declaring their schemas (no kernels) first lets the import finish. Nothing is declared where
    the extension loads."""
    spec = importlib.util.find_spec("torchvision")
    folder = Path(next(iter(spec.submodule_search_locations or []), ""))
    libraries = [p for suffix in importlib.machinery.EXTENSION_SUFFIXES if (p := folder / f"_C{suffix}").is_file()]
    if not libraries or _DECLARED_OPS:
        return
    try:
        torch.ops.load_library(str(libraries[0]))  # what torchvision.extension does first; a no-op when repeated
        return
    except OSError:
        pass
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        if not hasattr(torch.ops.torchvision, op):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _DECLARED_OPS.append(lib)


_RESNET_CLASS = None


def _resnet_class():
    """torchvision's ResNet with ``features(x)``, the zoo networks' method (defined once torchvision is in)."""
    global _RESNET_CLASS
    if _RESNET_CLASS is None:
        models = torchvision_models()

        class TorchvisionResNet(models.ResNet):
            """torchvision's ResNet, unchanged, plus the last convolutional feature map as ``features``."""

            def features(self, x: torch.Tensor) -> torch.Tensor:
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                return self.layer4(self.layer3(self.layer2(self.layer1(x))))

        TorchvisionResNet.__module__, TorchvisionResNet.__qualname__ = __name__, "TorchvisionResNet"
        _RESNET_CLASS = TorchvisionResNet
    return _RESNET_CLASS


def __getattr__(name: str):
    """``TorchvisionResNet`` by name (how pickle finds a whole pickled model's class), built on first use."""
    if name == "TorchvisionResNet":
        return _resnet_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_backbone(spec: BackboneSpec, outputs: int) -> nn.Module:
    """The torchvision network of ``spec`` with an ``outputs``-wide head, untrained (torchvision's own init)."""
    models = torchvision_models()
    if spec.hidden is None:
        model = getattr(models, spec.builder)(weights=None, num_classes=outputs)
    else:  # built on the meta device: the 54M-value FC layers replaced below are never initialised (~0.3 s)
        with torch.device("meta"):
            model = getattr(models, spec.builder)(weights=None, num_classes=outputs)
        model.to_empty(device="cpu")
        for module in model.features:  # AlexNet's own init is PyTorch's defaults, drawn in this order
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    if isinstance(model, models.ResNet):
        model.__class__ = _resnet_class()  # a subclass adding one method: same modules, same state dict
    if spec.hidden is not None:  # CAF's reduced FC layers, in torchvision's classifier slots 1, 4 and 6
        first, second = spec.hidden
        model.classifier[1] = nn.Linear(model.classifier[1].in_features, first)
        model.classifier[4] = nn.Linear(first, second)
        model.classifier[6] = nn.Linear(second, outputs)
    model.spec = spec
    return model


# ---------------------------------------------------------------- initial weights from a file
_WRAPPER_KEYS = ("model", "state_dict")  # this harness's and torchvision's references' checkpoints; most others'
_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP and torch.compile wrappers


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a state dict file: a plain state dict, or a checkpoint holding one under 'model' or
    'state_dict', with a 'module.' (DataParallel) or '_orig_mod.' (torch.compile) prefix dropped. Read with
    ``weights_only``: a file that pickles anything but tensors and plain values is refused, in one line."""
    from .weights import safe_load

    if not Path(path).is_file():
        raise ValueError(f"init weights not found: {path}")
    state = safe_load(path)
    wrapper = next((key for key in _WRAPPER_KEYS if isinstance(state.get(key), dict)), None)
    if wrapper is not None:
        state = state[wrapper]
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not state or not_tensors:
        what = f"{not_tensors[0]!r} is a {type(state[not_tensors[0]]).__name__}" if not_tensors else "it is empty"
        raise ValueError(f"{path}: not a state dict ({what}; expected a dict of tensors, or a checkpoint holding "
                         f"one under {' or '.join(map(repr, _WRAPPER_KEYS))})")
    for prefix in _PREFIXES:
        if all(isinstance(k, str) and k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_init(model: nn.Module, path: str | Path, head: str, name: str) -> nn.Module:
    """Load the state dict at ``path`` into ``model``. Every tensor outside ``head`` must be there with the
    model's shape (BatchNorm's ``num_batches_tracked``, which old files lack, excepted); the head's tensors are
    taken where all of them fit, and the head stays as built (freshly initialised) where one differs or is
    missing, e.g. ImageNet's 1000 classes against 8 expressions. Anything else: ValueError, in one line, naming
    the first few offending keys."""
    state = read_state_dict(path)
    target = model.state_dict()
    in_head = lambda key: key == head or key.startswith(head + ".")
    head_fits = all(k in state and state[k].shape == v.shape for k, v in target.items() if in_head(k))
    missing = [k for k in target if k not in state and not in_head(k) and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in target]
    shapes = [f"{k} {tuple(state[k].shape)} (model {tuple(v.shape)})" for k, v in target.items()
              if k in state and not in_head(k) and state[k].shape != v.shape]
    problems = [f"{label} {', '.join(keys[:3])}" + (f", ... ({len(keys)} in all)" if len(keys) > 3 else "")
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("other shape:", shapes))
                if keys]
    if problems:
        raise ValueError(f"{path} does not fit {name}: " + "; ".join(problems))
    merged = {k: state[k] if k in state and (head_fits or not in_head(k)) else v for k, v in target.items()}
    model.load_state_dict(merged)
    return model
