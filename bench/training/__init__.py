"""The training behind `python -m bench.train`, in parts a reader can take in one at a time.

- `runtime`: device, determinism, autocast (shared with `bench.epoch_time`).
- `distributed`: where this process stands in a torchrun job.
- `optim`: which parameters decay, the optimisers and their schedules.
- `method`: the interface every training method implements; `plain`, `dacl` and `caf` are the methods (the
  papers' losses on the network's output; DACL's attention net and sparse centers, or Wen et al.'s centers;
  CAF's critic and its three steps).
- `recipes`: each paper's training settings, with the section or code file each comes from.
- `holdout`: the part of the training set that picks the best epoch (model selection that does not peek).
- `inputs`: a run's data as its config names it, batches and predictions.
- `loop`: the epoch loop: steps, evaluation, rows, checkpoints, resume.
"""
