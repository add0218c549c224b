"""Each paper's training recipe as `bench.train` settings, every one with the place it comes from.

A setting comes from the paper's training section where it says, else from the authors' public code
(behzadhsni/BReG-NeXt, amirhfarzaneh/dacl, kdhht2334/Contrastive-Adversarial-Learning-FER), else it is the
harness's choice, labelled so. ``bench.train --recipe NAME`` fills every option the user did not give from the
recipe (a given flag always wins) and ``--recipe NAME --dry-run`` prints the table; `bench.reproduce` trains every
run of a paper's tables with its recipe.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

from harness.cli import UsageError
from losses.caf import Setting  # a value and where it comes from: CAF's readings list theirs the same way

NEXT = "BReG-NeXt Sec. 3.5"
NEXT_CODE = "BReG-NeXt code (codes/BReG-NeXt.py)"
BREGNET = "BReG-Net Sec. IV"
DACL = "DACL Sec. 4.2"
DACL_CODE = "DACL code"
CAF = "CAF Training Configurations"
CAF_CODE = "CAF code (src/main.py)"
HARNESS = "harness"
HOLDOUT = "harness: a held-out 10% of the training set picks the best epoch (the papers' code picks it on the " \
          "set it reports)"


S = Setting

# Training faces the papers' data sets hold, for recipes that count iterations (CAF): AffectNet's training set,
# AFEW-VA's frames less a held-out fifth (30,051 x 0.8), Aff-Wild's frames, about.
TRAINING_FACES = {"affectnet": 287_651, "afewva": 24_000, "affwild": 900_000}


@dataclass(frozen=True)
class Recipe:
    """A paper's settings (``settings``), refined per data set (``per_data``) and per network (``per_model``, name
    globs, later ones winning); ``losses`` the loss per task; ``epochs`` per data set, or ``iterations`` per data
    set when the paper counts steps (then epochs cover them at the run's batch size)."""

    title: str
    tasks: tuple[str, ...]
    settings: dict[str, Setting]
    losses: dict[str, Setting]
    epochs: dict[str, Setting] = field(default_factory=dict)
    iterations: dict[str, Setting] = field(default_factory=dict)
    per_data: dict[str, dict[str, Setting]] = field(default_factory=dict)
    per_model: dict[str, dict[str, Setting]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def resolve(self, model: str, data: str, task: str, train_faces: int | None = None) -> dict[str, Setting]:
        """Every setting for a run of ``model`` on ``data`` (a data set name such as 'rafdb', or 'synth')."""
        if task not in self.tasks:
            raise UsageError(f"--recipe {self.title.split()[0].lower()} trains the {' and '.join(self.tasks)} task, "
                             f"not {task}")
        out = {**self.settings, "loss": self.losses[task], **self.per_data.get(data, {})}
        for pattern, extra in self.per_model.items():
            if fnmatch.fnmatch(model, pattern):
                out.update(extra)
        if self.iterations:
            iters = self.iterations.get(data, self.iterations["*"])
            faces = train_faces or TRAINING_FACES.get(data)
            if faces:
                epochs = math.ceil(iters.value * out["batch_size"].value / faces)
                out["epochs"] = S(epochs, f"{iters.source}: {iters.value:,} iterations x batch "
                                          f"{out['batch_size'].value} / {faces:,} faces")
        elif self.epochs:
            out["epochs"] = self.epochs.get(data, self.epochs["*"])
        return out


_BREGNEXT = {
    "optimizer": S("adam", NEXT), "lr": S(1e-4, NEXT), "lr_gamma": S(0.8, NEXT), "lr_step": S(10, NEXT),
    "lr_step_unit": S("epoch", NEXT), "batch_size": S(128, NEXT),
    "weight_decay": S(1e-4, f"{NEXT} (L2 on the conv layers); the value from {NEXT_CODE}"),
    "decay_on": S("conv", NEXT),
    "augment": S("bregnext", f"{NEXT} (flip, hue, saturation, brightness, contrast, zoom); the magnitudes are the "
                             f"harness's, not those of {NEXT_CODE}"),
    "augment_p": S(0.25, f"{NEXT} (its code augments half the faces)"),
    "normalise": S("bregnext", f"{NEXT} (zero-centring); the means from {NEXT_CODE}"), "image_size": S(64, NEXT),
    "holdout": S(0.1, HOLDOUT),
}

RECIPES = {
    "bregnext": Recipe(
        "BReG-NeXt (IEEE TAC), Sec. 3.5", ("categorical", "dimensional"), _BREGNEXT,
        {"categorical": S("focal", NEXT), "dimensional": S("mse", NEXT)},
        epochs={"*": S(100, f"{NEXT_CODE}: --num_epochs 100 (the paper is silent)")},
        notes=("The paper trains from scratch; its code augments 50% of the time where the paper says 25% "
               "(the paper's share is used).",)),
    "bregnet": Recipe(
        "BReG-Net (FG 2019), Sec. IV", ("categorical", "dimensional"),
        {**_BREGNEXT, "optimizer": S("sgd", f"{BREGNET}: momentum optimisation"),
         "momentum": S(0.9, "TFLearn's Momentum default (BReG-Net used TFLearn; the paper gives no value)"),
         "lr": S(0.01, BREGNET), "weight_decay": S(1e-4, BREGNET),
         "decay_on": S("conv", f"{NEXT_CODE} (BReG-Net gives no layers; its successor's code decays the convs)"),
         **{k: S(_BREGNEXT[k].value, f"BReG-Net is silent; {NEXT} (same authors)") for k in
            ("lr_gamma", "lr_step", "lr_step_unit", "batch_size", "augment", "augment_p", "image_size")}},
        {"categorical": S("weighted_ce", f"{BREGNET} (Eq. 5-7; 'regular loss' = ce)"),
         "dimensional": S("mse", BREGNET)},
        epochs={"*": S(100, f"BReG-Net is silent; {NEXT_CODE}: --num_epochs 100")}),
    "dacl": Recipe(
        "DACL (WACV 2021), Sec. 4.2", ("categorical",),
        {"optimizer": S("sgd", DACL), "momentum": S(0.9, DACL), "lr": S(0.01, DACL), "weight_decay": S(5e-4, DACL),
         "decay_on": S("all", f"{DACL_CODE} (main.py: SGD(model.parameters(), weight_decay), attention net included)"),
         "lr_step_unit": S("epoch", DACL), "batch_size": S(128, f"{DACL} (the code's default is 64)"),
         "augment": S("dacl", f"{DACL}; {DACL_CODE} (utils.RandomFiveCrop, RandomHorizontalFlip)"),
         "augment_p": S(1.0, f"{DACL_CODE}: every training face is cropped and maybe flipped"),
         "normalise": S("dacl", f"{DACL_CODE} (main.py: Normalize)"), "image_size": S(224, DACL),
         "resize": S(256, DACL), "holdout": S(0.1, HOLDOUT),
         "lr_step": S(20, DACL), "lr_gamma": S(0.1, DACL)},
        {"categorical": S("dacl", DACL)},
        epochs={"*": S(60, DACL), "rafdb": S(60, DACL), "affectnet7": S(20, DACL)},
        per_data={"affectnet7": {"lr_step": S(5, DACL), "lr_gamma": S(0.2, DACL)}},
        per_model={"bregnext*": {"image_size": S(64, "harness: BReG-NeXt's own 64x64 input"),
                                 "resize": S(73, "harness: 64/224 of DACL's 256")}},
        notes=("DACL's ResNet-18 starts from MS-Celeb-1M weights: give them with --init PATH (without, it trains "
               "from scratch). The CE-Unit is 3584-512-64 on ResNet-18's map (its code); alpha 0.5, lambda 0.01 "
               "(Sec. 4.2); centers He-initialised as its code does (std sqrt(2/K)).",)),
    "caf": Recipe(
        "CAF (AAAI 2021)", ("dimensional",),
        {"optimizer": S("adam", CAF), "lr": S(1e-4, CAF), "adam_betas": S((0.5, 0.9), CAF_CODE),
         "lr_gamma": S(0.8, CAF), "lr_step": S(10_000, CAF), "lr_step_unit": S("iter", CAF),
         "batch_size": S(128, f"{CAF} (ResNet-18)"), "weight_decay": S(0.0, f"{CAF} and {CAF_CODE}: no decay"),
         "augment": S("caf", f"{CAF_CODE} (Resize 256, RandomCrop 224, RandomHorizontalFlip)"),
         "augment_p": S(1.0, CAF_CODE), "normalise": S("imagenet", CAF_CODE),
         "image_size": S(224, f"{CAF_CODE} (the paper is silent)"), "resize": S(256, CAF_CODE),
         "method": S("caf", CAF), "holdout": S(0.1, HOLDOUT),
         "caf_reading": S("code", "harness: the authors' code where it and the paper differ (--caf-reading paper: "
                                  "Algorithm 1 as printed)"),
         "caf_margin": S("adaptive", "CAF Eq. 5, 8"), "caf_adversary": S("caf", "CAF Eq. 4-7, Algorithm 1")},
        {"dimensional": S("av", CAF)},
        iterations={"*": S(50_000, CAF), "affwild": S(100_000, CAF)},
        per_model={"tv_alexnet*": {"batch_size": S(256, f"{CAF} (AlexNet)")},
                   "bregnext*": {"image_size": S(64, "harness: BReG-NeXt's own 64x64 input"),
                                 "resize": S(73, "harness: 64/224 of CAF's 256")}},
        notes=("Epochs cover the paper's iterations for the training-set sizes it names (AffectNet 287,651; AFEW-VA "
               "about 24,000 and Aff-Wild about 900,000 faces); set --epochs for yours.",)),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UsageError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]
