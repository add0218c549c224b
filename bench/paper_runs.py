"""The runs behind each paper's tables: which networks, data sets, losses, bypasses and methods each table needs.

`bench.reproduce` trains them (each run once, however many tables it feeds) with the paper's recipe
(`bench.training.recipes`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from breg_models.specs import TABLE1 as _TABLE1_SPECS
from harness.cli import UsageError


@dataclass(frozen=True)
class Runs:
    """The runs one block of a table needs: every network x data set x loss x bypass (None: the network's own)
    x training method ("plain", or "caf" followed by bench.train options of CAF, e.g.
    "caf|caf_margin=constant:0.2": `method_options`)."""

    models: tuple[str, ...]
    data: tuple[str, ...]
    task: str
    losses: tuple[str, ...]
    bypasses: tuple[str | None, ...] = (None,)
    methods: tuple[str, ...] = ("plain",)


TABLE1 = tuple(_TABLE1_SPECS)  # BReG-NeXt Table 1's six networks
# BReG-Net's two networks, by the names of the model zoo.
BREGNET, RESNET110 = "bregnet39", "resnet110"
CAT = ("affectnet", "fer2013")
DIM = ("affectnet", "affwild")
H3 = ("bregnet_h3",)  # BReG-Net's chosen H (atan), named so that Table I's three Hs read alike
DACL_NETS = ("tv_resnet18", "bregnext50")  # DACL's backbone (torchvision's), and BReG-NeXt-50 with its loss
CAF_NETS = ("tv_resnet18", "tv_alexnet_tuned", "bregnext50")  # CAF's two encoders, and BReG-NeXt-50 under CAF
# CAF Table 4, as runnable here: no critic (the AV loss alone, in CAF's reading), its FisherGAN, SphereGAN and
# GRAM-net critics, constant kappa, linear kappa', and CAF's Delta
CAF_TABLE4 = ("caf|caf_adversary=none", "caf|caf_adversary=fishergan", "caf|caf_adversary=spheregan",
              "caf|caf_adversary=gramnet", "caf|caf_margin=constant:0.2", "caf|caf_margin=linear:0.1,0.005", "caf")


def method_options(method: str) -> dict[str, str]:
    """A `Runs` method as bench.train options: "caf|caf_margin=constant:0.2" -> method caf, caf_margin ..."""
    kind, *options = method.split("|")
    return {"method": kind, **dict(option.split("=", 1) for option in options)}

# paper -> table (as printed) -> the runs it needs. Tables share runs: a run is trained once.
PAPER_NAMES = ("bregnext", "bregnet", "dacl", "caf")
PAPERS: dict[str, dict[str, tuple[Runs, ...]]] = {
    "bregnext": {
        "4": (Runs(TABLE1, CAT, "categorical", ("focal",)),),
        "5": (Runs(("bregnext50",), CAT, "categorical", ("focal",)),),
        "6": (Runs(TABLE1, DIM, "dimensional", ("mse",)),),
        "7": (Runs(("bregnext50",), DIM, "dimensional", ("mse",)),),
    },
    "bregnet": {  # "regular loss" is cross-entropy: the weighted loss with H = I (BReG-Net Sec. III-B)
        "I": (Runs((BREGNET,), CAT, "categorical", ("ce", "weighted_ce"), ("bregnet_h1", "bregnet_h2", "bregnet_h3")),),
        "II": (Runs((RESNET110,), CAT, "categorical", ("ce",)),
               Runs((BREGNET,), CAT, "categorical", ("ce", "weighted_ce"), H3)),
        "III": (Runs((BREGNET,), CAT, "categorical", ("weighted_ce",), H3),),
        "IV": (Runs((BREGNET,), CAT, "categorical", ("ce",), H3),),
        "V": (Runs((RESNET110,), DIM, "dimensional", ("mse",)), Runs((BREGNET,), DIM, "dimensional", ("mse",), H3)),
        "VI": (Runs((BREGNET,), DIM, "dimensional", ("mse",), H3),),
        "VII": (Runs((RESNET110,), DIM, "dimensional", ("mse",)),),
    },
    "dacl": {  # softmax loss (ce) and center loss against DACL: the paper's ResNet-18, and BReG-NeXt-50 beside it
        "1": (Runs(DACL_NETS, ("rafdb",), "categorical", ("ce", "center", "dacl")),),
        "2": (Runs(DACL_NETS, ("affectnet7",), "categorical", ("ce", "center", "dacl")),),
    },
    "caf": {  # the AV loss; CAF's Algorithm 1 on its two encoders and BReG-NeXt-50, Table 4 its margins and
        # the same encoders without the critic
        "1": (Runs(CAF_NETS, ("affectnet",), "dimensional", ("av",), methods=("caf",)),),
        "2": (Runs(CAF_NETS, ("afewva",), "dimensional", ("av",), methods=("caf",)),),
        "3": (Runs(CAF_NETS, ("affwild",), "dimensional", ("av",), methods=("caf",)),),
        "4": (Runs(CAF_NETS[:2], ("affectnet",), "dimensional", ("av",), methods=CAF_TABLE4),),
    },
}

# Tables of these papers that this command does not train, and why.
ELSEWHERE = {
    ("bregnext", "1"): "parameters and FLOPs: python -m bench.flops",
    ("bregnext", "2"): "parameters and FLOPs per depth: python -m bench.flops or python -m bench.depth_sweep",
    ("bregnext", "3"): "class counts of the data, which the evaluate row of every Table 4 run holds",
    ("bregnext", "8"): "bypass ablation: python -m bench.ablation --preset table8",
    ("bregnext", "9"): "bypass ablation: python -m bench.ablation --preset table9",
}

def table_names(paper: str, text: str | None) -> list[str]:
    """The tables ``text`` ('4,6' or 'ii,iii'; None: all) names, in the paper's order; unknown ones are an error."""
    known = list(PAPERS[paper])
    if text is None:
        return known
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    out = []
    for t in wanted:
        match = next((k for k in known if k.lower() == t.lower()), None)
        if match is None:
            reason = ELSEWHERE.get((paper, t))
            why = f"is not trained here: {reason}" if reason else "is not a table of this paper"
            raise UsageError(f"{paper} Table {t} {why}; tables this command trains: {', '.join(known)}")
        if match not in out:
            out.append(match)
    if not out:
        raise UsageError(f"--tables names no table; {paper} has: {', '.join(known)}")
    return [k for k in known if k in out]


def plan(paper: str, tables: list[str], models: list[str] | None = None,
         datasets: list[str] | None = None) -> list[tuple[str, str, str, str, str | None, str, tuple[str, ...]]]:
    """(model, data set, task, loss, bypass, method, tables) of every run the tables need, each once, in table
    order."""
    found: dict[tuple, list[str]] = {}
    for table in tables:
        for runs in PAPERS[paper][table]:
            for model in runs.models:
                if models and not any(fnmatch.fnmatch(model, m) for m in models):
                    continue
                for data in runs.data:
                    if datasets and data not in datasets:
                        continue
                    for loss in runs.losses:
                        for bypass in runs.bypasses:
                            for method in runs.methods:
                                found.setdefault((model, data, runs.task, loss, bypass, method), []).append(table)
    return [(*key, tuple(t)) for key, t in found.items()]
