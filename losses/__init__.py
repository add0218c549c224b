"""Training losses of the four papers: focal, weighted CE, MSE / CAF AV loss, DACL, CAF critic and margin."""

from losses.caf import CAF, READINGS, SHARED, Setting, reading_settings
from losses.caf_adversaries import ADVERSARIES, Critic, make_adversary
from losses.caf_grouping import code_groups, cumulative_threshold, otsu_threshold, strong_weak_split
from losses.caf_margin import MarginSchedule, adaptive_margin, aknn_k, confidence_interval, mutual_information
from losses.dacl import DACLAttention, SparseCenterLoss, sparse_center_gradients
from losses.focal import FocalLoss
from losses.regression import AVLoss, DimensionalMSELoss
from losses.weighted_ce import WeightedCrossEntropyLoss, class_weights

__all__ = [
    "ADVERSARIES",
    "AVLoss",
    "CAF",
    "Critic",
    "DACLAttention",
    "DimensionalMSELoss",
    "FocalLoss",
    "MarginSchedule",
    "READINGS",
    "SHARED",
    "Setting",
    "SparseCenterLoss",
    "WeightedCrossEntropyLoss",
    "adaptive_margin",
    "aknn_k",
    "class_weights",
    "code_groups",
    "confidence_interval",
    "cumulative_threshold",
    "make_adversary",
    "mutual_information",
    "otsu_threshold",
    "reading_settings",
    "sparse_center_gradients",
    "strong_weak_split",
]
