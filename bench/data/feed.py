"""`BatchFeed`: the batches of an epoch, in the trainer's order, read ahead from disk in a background thread.

For a disk-backed set each batch is read (``DiskImages.read_into``: positional reads, CRC-checked) into one of a
small ring of pinned host buffers, copied to the GPU without blocking on a side stream, and handed over once
the copy is ordered before the consumer's work; a buffer is refilled only after its copy has landed. On the CPU
each batch is a fresh tensor (nothing to pin). Memory is the ring and the batches in flight, whatever the set's
size. A resident tensor is simply indexed. Either way a batch is exactly ``images[idx]``, bit for bit, so a
resumed run sees the same data.

The thread stops when the loop ends, breaks early or raises (KeyboardInterrupt included): leaving the loop
closes the generator, which tells the thread to stop and joins it; an error in the thread is raised in the loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from .disk import DiskImages

_POLL_S = 0.1  # how often a blocked side checks whether the other has stopped


class BatchFeed:
    """Iterate to get ``images[idx]`` on ``device`` for each ``idx`` of ``batches`` (CPU int64 index tensors; under
    torchrun each rank passes only its own part of each batch), with ``prefetch`` batches read ahead."""

    def __init__(self, images: Tensor | DiskImages, batches: Sequence[Tensor], device, prefetch: int = 2):
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        self.images, self.batches, self.device, self.prefetch = images, list(batches), torch.device(device), prefetch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Tensor]:
        if isinstance(self.images, Tensor):
            return self._resident()
        return self._streamed()

    def _resident(self) -> Iterator[Tensor]:
        for idx in self.batches:
            yield self.images[idx.to(self.images.device)].to(self.device, non_blocking=True)

    def _streamed(self) -> Iterator[Tensor]:
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        thread = threading.Thread(target=self._produce, args=(q, stop), name="batch-feed", daemon=True)
        thread.start()
        cuda = self.device.type == "cuda"
        try:
            for _ in range(len(self.batches)):
                item = self._take(q, thread)
                if isinstance(item, BaseException):
                    raise item
                batch, copied = item
                if cuda:
                    stream = torch.cuda.current_stream(self.device)
                    stream.wait_event(copied)
                    batch.record_stream(stream)  # the allocator must not reuse it before this stream is done
                yield batch
        finally:
            stop.set()
            while thread.is_alive():
                try:  # make room for a producer blocked on a full queue
                    q.get_nowait()
                except queue.Empty:
                    thread.join(_POLL_S)

    @staticmethod
    def _take(q: queue.Queue, thread: threading.Thread):
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if not thread.is_alive() and q.empty():
                    return RuntimeError("the batch feed's reader thread ended early")

    def _produce(self, q: queue.Queue, stop: threading.Event) -> None:
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=_POLL_S)
                    return True
                except queue.Full:
                    pass
            return False

        try:
            if self.device.type != "cuda":
                for idx in self.batches:
                    if stop.is_set() or not put((self.images[idx], None)):
                        return
                return
            largest = max((len(idx) for idx in self.batches), default=0)
            ring = [torch.empty((largest, *self.images.shape[1:]), dtype=torch.uint8, pin_memory=True)
                    for _ in range(self.prefetch + 1)]
            landed: list[torch.cuda.Event | None] = [None] * len(ring)
            side = torch.cuda.Stream(self.device)
            for k, idx in enumerate(self.batches):
                if stop.is_set():
                    return
                slot = k % len(ring)
                if landed[slot] is not None:
                    landed[slot].synchronize()  # its last copy is done: the buffer may be refilled
                host = self.images.read_into(idx, ring[slot])
                with torch.cuda.stream(side):
                    batch = host.to(self.device, non_blocking=True)
                    landed[slot] = torch.cuda.Event()
                    landed[slot].record(side)
                if not put((batch, landed[slot])):
                    return
        except BaseException as exc:  # handed to the loop, which raises it
            put(exc)
