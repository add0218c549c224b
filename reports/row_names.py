"""How the papers name the rows of their tables: published row keys ('fsn_ref38', 'mollahosseini2017_alexnet',
'bregnext50') as a reader of the paper knows them ('FSN [38]', 'Mollahosseini et al. 2017, AlexNet',
'BReG-NeXt-50')."""

from __future__ import annotations

import re

_NETWORK = re.compile(r"(resnet|bregnet|bregnext)(\d+)")
_FAMILY_TITLES = {"resnet": "ResNet", "bregnet": "BReG-Net", "bregnext": "BReG-NeXt"}

# Methods the papers name by an acronym or a phrase, not by their first author.
_METHODS = {"fsn": "FSN", "pacnn": "pACNN", "dlp_cnn": "DLP-CNN", "alt": "ALT", "gacnn": "gACNN",
            "separate_loss": "Separate loss", "ipa2lt": "IPA2LT", "ran": "RAN", "dda_loss": "DDA loss",
            "scn": "SCN", "ipfr": "IPFR", "softmax_loss": "Softmax loss", "center_loss": "Center loss",
            "dacl": "DACL (ours)"}
# The words of CAF's row keys after the author and year.
_WORDS = {"alexnet": "AlexNet", "vgg16": "VGG-16", "ssd": "SSD", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
          "bregnext": "BReG-NeXt", "3d": "3D", "2plus1d": "(2+1)D", "trans": "transfer",
          "alexnet_tuned": "AlexNet (tuned)",
          "fishergan": "FisherGAN critic", "spheregan": "SphereGAN critic", "gramnet": "GRAM-net critic",
          "no_critic": "no critic", "delta": "\\(\\Delta\\)", "constant_kappa": "constant \\(\\kappa\\)",
          "linear_kappa": "linear \\(\\kappa'\\)", "test": "test set"}
# Whole rows named by the paper in words.
_ROWS = {("bregnet", "bregnet"): "BReG-Net-39", ("bregnet", "bregnet_regular_loss"): "BReG-Net-39, regular loss",
         ("bregnet", "bregnet_weighted_loss"): "BReG-Net-39, weighted loss",
         ("bregnet", "bregnet_h1"): r"BReG-Net-39, H1 = \(x - \log(e^x + 1)\)",
         ("bregnet", "bregnet_h2"): r"BReG-Net-39, H2 = \(x \arctan x - \log(x^2 + 1) / 2\)",
         ("bregnet", "bregnet_h3"): r"BReG-Net-39, H3 = \(\arctan x\)", ("bregnext", "average"): "Average",
         ("bregnext", "adaptive"): "Eq. 8 (adaptive)", ("bregnext", "bregnext_h1"): "Eq. 7, H1",
         ("bregnext", "bregnext_h2"): "Eq. 7, H2", ("bregnext", "bregnext_h3"): "Eq. 7, H3",
         ("bregnext", "bregnext32_nonadaptive"): "BReG-NeXt-32, non-adaptive",
         ("bregnext", "bregnext50_nonadaptive"): "BReG-NeXt-50, non-adaptive"}


def network_title(name: str) -> str:
    """'bregnext50' -> 'BReG-NeXt-50'; any other name as it is."""
    m = _NETWORK.fullmatch(name)
    return f"{_FAMILY_TITLES[m.group(1)]}-{m.group(2)}" if m else name


def is_network(name: str) -> bool:
    """Whether a published row is one of this harness's networks (it can be run here)."""
    return _NETWORK.fullmatch(name) is not None


def row_title(paper: str, row: str) -> str:
    """The name a published row has in its paper."""
    if (paper, row) in _ROWS:
        return _ROWS[(paper, row)]
    if is_network(row):
        return network_title(row)
    base, ref = row, ""
    if m := re.fullmatch(r"(.+)_ref(\d+)", row):
        base, ref = m.group(1), f" [{m.group(2)}]"
    if base in _METHODS:
        return _METHODS[base] + ref
    if base.split("_")[0] in _WORDS:  # a network the paper names by itself: 'resnet18_3d'
        return " ".join(_words(base)) + ref
    if m := re.fullmatch(r"([a-z]+?)(\d{4})?(?:_(.+))?", base):
        author, year, rest = m.groups()
        if author in ("ours", "adversarial"):
            head = "Ours" if author == "ours" else "Adversarial"
        else:
            head = f"{author.capitalize()} et al." + (f" {year}" if year else "")
        words = _words(rest) if rest else []
        return ", ".join([head + ref, *words])
    return row


def _words(rest: str) -> list[str]:
    """'resnet18_no_critic' -> ['ResNet-18', 'no critic']: the longest known word at each step."""
    parts, out, i = rest.split("_"), [], 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            key = "_".join(parts[i:j])
            if key in _WORDS or j == i + 1:
                out.append(_WORDS.get(key, key))
                i = j
                break
    return out
