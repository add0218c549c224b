"""Parameter and FLOP counts of a model, shared by `bench.flops` and `bench.depth_sweep`.

FLOPs come from fvcore's ``FlopCountAnalysis``, whose unit is one multiply-add (a MAC): convolutions,
the linear layer and batch norm use fvcore's own handles; ELU and the global average pool, which fvcore
would skip, get a handle here (one operation per element). The shortcut y = P(H(x)) + F is counted from
its shapes by `shortcut_cost`, not from the ops that happen to implement it, so the eager bypass, its
compiled form and the fused Triton op give the same totals. Any op still unhandled is reported, never
silently dropped. FLOPs = 2 x MACs, labelled as such. fvcore is imported only to count FLOPs, so parameter
counts (and the modules that import this one) work where fvcore is not installed.
"""

from __future__ import annotations

import contextlib
from collections import Counter

import torch
from torch import nn

from breg_models.bypass import Shortcut
from breg_models.cost import shortcut_cost


def _elementwise_handles() -> dict:
    from fvcore.nn.jit_handles import elementwise_flop_counter

    return {
        "aten::elu": elementwise_flop_counter(0, 1),
        "aten::mean": elementwise_flop_counter(1, 0),  # the global average pool of the head
    }


def count_params(model: nn.Module) -> dict:
    """Trainable and total values; total adds frozen parameters and fixed bypass constants (buffers of
    Eq. 8 'fixed'), not batch-norm running statistics."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    constants = sum(b.numel() for m in model.modules() if isinstance(m, Shortcut) for b in m.bypass.buffers())
    return {"params_trainable": trainable, "params_total": trainable + frozen + constants}


def count_flops(model: nn.Module, input_size: int = 64, by_stage: bool = False) -> dict:
    """MACs of one forward pass of one (3, input_size, input_size) image, by category, plus what fvcore
    could not count (``skipped_ops``, empty for every network of the zoo). The image is put on the model's
    device, so a model whose fused shortcuts need CUDA is counted there. The count runs in one thread (a batch
    of one gains nothing from more, and loses much when another process holds the cores), the caller's
    thread count restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _count_flops(model.eval(), input_size, by_stage)
    finally:
        torch.set_num_threads(threads)


def _count_flops(model: nn.Module, input_size: int, by_stage: bool) -> dict:
    from fvcore.nn import FlopCountAnalysis

    device = next(model.parameters(), torch.zeros(())).device
    x = torch.zeros(1, 3, input_size, input_size, device=device)
    shortcuts = {name: m for name, m in model.named_modules() if isinstance(m, Shortcut)}
    analysis = FlopCountAnalysis(model, x)
    for op, handle in {**_elementwise_handles(), **_custom_op_handles()}.items():
        analysis.set_op_handle(op, handle)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    with _recording_shapes(shortcuts) as shapes:  # fvcore's trace is the one forward pass
        by_op = analysis.by_module_and_operator()

    cost = {name: shortcut_cost(*shapes[name], m.stride, m.bypass.kind) for name, m in shortcuts.items()}

    def adjusted(module: str) -> tuple[Counter, Counter]:
        """Op counts of a module with each shortcut's implementation replaced by its `shortcut_cost`."""
        ops, skipped = Counter(by_op.get(module, {})), Counter(analysis.unsupported_ops(module))
        inside = [s for s in shortcuts if module == "" or s.startswith(module + ".")]
        for s in inside:
            ops.subtract(by_op.get(s, {}))
            skipped.subtract(analysis.unsupported_ops(s))
        ops["shortcut"] += sum(cost[s] for s in inside)
        return +ops, +skipped

    ops, skipped = adjusted("")
    macs = sum(ops.values())
    row = {
        "macs": macs,
        "flops": 2 * macs,
        "macs_conv": ops["conv"],
        "macs_linear": ops["linear"],
        "macs_batch_norm": ops["batch_norm"],
        "macs_shortcut": ops["shortcut"],
        "macs_other": macs - ops["conv"] - ops["linear"] - ops["batch_norm"] - ops["shortcut"],
        "skipped_ops": dict(skipped),
    }
    if by_stage:
        row["stages"] = _stages(model, adjusted, macs)
    return row


def _stages(model: nn.Module, adjusted, total_macs: int) -> list[dict]:
    """MACs and parameters of the stem, each Table 1 stage (conv2..conv6) and the head."""
    rows, seen_macs, seen_params = [], 0, 0
    for name in ["stem", *model.stage_names]:
        macs = sum(adjusted(name)[0].values())
        params = sum(p.numel() for p in getattr(model, name).parameters())
        rows.append({"stage": name, "macs": macs, "params": params})
        seen_macs, seen_params = seen_macs + macs, seen_params + params
    all_params = sum(p.numel() for p in model.parameters())
    rows.append({"stage": "head", "macs": total_macs - seen_macs, "params": all_params - seen_params})
    return rows


@contextlib.contextmanager
def _recording_shapes(shortcuts: dict):
    """Yields a dict that the forward passes run inside fill with each shortcut's (input, output) shape."""
    shapes = {}
    hooks = [
        m.register_forward_hook(lambda mod, args, out, name=name: shapes.__setitem__(
            name, (tuple(args[0].shape), tuple(out.shape))))
        for name, m in shortcuts.items()
    ]
    try:
        yield shapes
    finally:
        for h in hooks:
            h.remove()


def _custom_op_handles() -> dict:
    """fvcore handles of the fused Triton op, when that op is available."""
    try:
        from breg_models.ops.bypass_add_op import FVCORE_HANDLES
    except ImportError:
        return {}
    return FVCORE_HANDLES
