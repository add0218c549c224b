"""Training losses of the four papers: focal, weighted CE, MSE / CAF AV loss, DACL, CAF critic."""

from losses.caf import (
    Critic,
    MarginSchedule,
    adaptive_margin,
    adversarial_loss,
    caf_training_step,
    critic_loss,
    otsu_threshold,
    strong_weak_split,
)
from losses.dacl import DACLAttention, SparseCenterLoss, sparse_center_gradients
from losses.focal import FocalLoss
from losses.regression import AVLoss, DimensionalMSELoss
from losses.weighted_ce import WeightedCrossEntropyLoss, class_weights

__all__ = [
    "AVLoss",
    "Critic",
    "DACLAttention",
    "DimensionalMSELoss",
    "FocalLoss",
    "MarginSchedule",
    "SparseCenterLoss",
    "WeightedCrossEntropyLoss",
    "adaptive_margin",
    "adversarial_loss",
    "caf_training_step",
    "class_weights",
    "critic_loss",
    "otsu_threshold",
    "sparse_center_gradients",
    "strong_weak_split",
]
