"""The training behind `python -m bench.train`, in parts a reader can take in one at a time.

- `options`: the command line, recipes applied, the checks made before any work, and the run's config.
- `recipes`: each paper's training settings, with the section or code file each comes from.
- `loop`: the epoch loop: data, steps, evaluation, rows, checkpoints, resume.
- `method`: the interface every training method implements; `plain` (a loss on the network's output), `dacl`
  (DACL's attention net and sparse centers, or Wen et al.'s center loss) and `caf` (CAF's critic and its three
  steps) are the methods.
- `optim`: which parameters decay, the optimisers and their schedules.
- `inputs`: a run's data as its config names it, its input transform, shuffled batches and predictions.
- `holdout`: the part of the training set that picks the best epoch (model selection that does not peek).
- `footprint`: what a run needs on disk, host and device, for ``--dry-run``.
- `distributed`: where this process stands in a torchrun job.
- `runtime`: device, determinism, autocast (shared with `bench.epoch_time`).
"""
