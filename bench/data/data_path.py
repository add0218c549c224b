"""Where a run's images live and what that costs: resident (one tensor on the device) when the set fits, else
streamed from the decoded cache (`BatchFeed`). Both answers come from a row count, so a dry run can print them
without decoding anything (`len(index_dataset(...))`, or a count you give when the data is absent)."""

from __future__ import annotations

import os

import torch

RESIDENT_FRACTION = 0.4  # of the GPU's memory (the rest for model and activations), or of MemAvailable on the CPU
DATA_PATHS = ("auto", "resident", "stream")
STAGING_BYTES = 2 * (256 << 20)  # `DiskImages.to(cuda)`'s two pinned staging buffers at most


def mem_available() -> int:
    """Bytes the kernel says a new allocation can take without swapping (/proc/meminfo MemAvailable)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def resident_budget(device) -> int:
    """The most bytes of images kept resident on ``device``."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(RESIDENT_FRACTION * torch.cuda.get_device_properties(device).total_memory)
    return int(RESIDENT_FRACTION * mem_available())


def choose_data_path(nbytes: int, device, choice: str = "auto") -> str:
    """'resident' when ``nbytes`` of images fit the budget of ``device`` (`resident_budget`), else 'stream';
    ``choice`` 'resident' or 'stream' forces it."""
    if choice not in DATA_PATHS:
        raise ValueError(f"data path {choice!r}: choose one of {', '.join(DATA_PATHS)}")
    if choice != "auto":
        return choice
    return "resident" if nbytes <= resident_budget(device) else "stream"


def footprint(count: int, image_size: int, device="cpu", *, batch_size: int = 128, prefetch: int = 2,
              choice: str = "auto") -> dict:
    """Bytes on host, on device and on disk for ``count`` images of ``image_size`` on each path, and the path
    `choose_data_path` takes. The disk holds the decoded cache either way (the resident path is read from it);
    the host also holds each image's CRC (4 bytes)."""
    image = 3 * image_size * image_size
    data, batch, crc = count * image, batch_size * image, 4 * count
    cuda = torch.device(device).type == "cuda"
    resident = {"host": crc + (min(STAGING_BYTES, data) if cuda else data), "device": data if cuda else 0,
                "disk": data}
    in_flight = prefetch + 2  # queued, being read, and the one the step holds
    stream = {"host": crc + (prefetch + 1) * batch if cuda else crc + in_flight * batch,
              "device": in_flight * batch if cuda else 0, "disk": data}
    return {"count": count, "image_size": image_size, "image_bytes": image, "data_bytes": data,
            "path": choose_data_path(data, device, choice), "resident": resident, "stream": stream}
