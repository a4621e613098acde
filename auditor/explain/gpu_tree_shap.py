"""Path-dependent TreeSHAP on a CUDA device: numba CUDA kernels over the flattened trees.

The kernel evaluates, for every (row, leaf), the same per-leaf formula the CPU engine
tabulates (:mod:`auditor.explain._path_tables`): with the leaf's d distinct path features
(bit m: the m-th from the root, cover-ratio product P_m) and O the pattern of features
whose every edge the row follows,

    phi_m += v (O_m - P_m) int_0^1 prod_{j != m} (P_j (1 - t) + O_j t) dt

by Gauss-Legendre with ceil(d / 2) nodes (exact for that degree d - 1 polynomial), in
float64. Nothing is tabulated on the device: a leaf costs its path's decisions and
O(d^2 / 2) multiply-adds, which a GPU does faster than it reads d 2^d table cells, and
the 38.5 MiB of tables of a 500-tree model never cross the bus.

Layout: **one thread block per row**. The block's threads stride over every leaf of the
model (trees flattened together, so a 500-tree model gives 128 threads 170 leaves each
whatever the trees' sizes) and add into the row's K(F+1) outputs in shared memory; the
block then writes the row once. Chosen over one block per (row, tree) because a tree of
15-63 leaves would leave most of a block idle and every tree's block would need global
atomics on the same row; here the row's inputs are read from global memory once, the
only atomics are in shared memory, and blocks never touch each other's outputs.

Limits (the CPU engine takes such models; ``auto`` falls back to it with the reason):
at most ``MAX_PATH_FEATURES`` distinct features on a leaf's path (per-thread scratch is
a fixed-size local array) and F + K(F+1) float64 values within 48 KiB of shared memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from auditor.errors import ExplainError
from auditor.explain.fast_tree_shap import TreeShapEngine, leaf_paths

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "cuda")

MAX_PATH_FEATURES = 63  # pattern bits in an int64; local scratch arrays hold 64
SHARED_BYTES = 48 * 1024  # shared memory a block may use without opting in
BLOCK_THREADS = 128
CHUNK_ROWS = 1 << 16  # rows per launch: bounds device memory for inputs and outputs
# auto picks the GPU from this many (row, leaf) evaluations: about 0.5 s of the 2-thread
# CPU engine on the development machine (2,000 rows x 22,000 leaves took 0.68 s), enough
# to cover a first call's kernel compilation and the transfers. An estimate until
# bench/bench_gpu.py has been run on a GPU; see bench/README.md.
AUTO_MIN_LEAF_ROWS = 1 << 25


@functools.cache
def cuda_device_present() -> bool:
    """A real CUDA device is usable (the CUDA simulator does not count)."""
    import numba

    if getattr(numba.config, "ENABLE_CUDASIM", 0):
        return False
    from numba import cuda

    try:
        return bool(cuda.is_available())  # type: ignore[no-untyped-call]
    except Exception:  # a broken driver install reads as no device
        return False


def _cuda_usable() -> bool:
    """A device or the simulator can run the kernels (``device: cuda`` accepts both)."""
    from numba import cuda

    try:
        return bool(cuda.is_available())  # type: ignore[no-untyped-call]
    except Exception:
        return False


def unsupported_reason(engine: TreeShapEngine) -> str | None:
    """Why the CUDA kernel cannot explain this model, or None."""
    m = engine.model
    deepest = int(_device_model(engine, upload=False).nfeat.max(initial=0))
    if deepest > MAX_PATH_FEATURES:
        return (
            f"a leaf's path splits on {deepest} distinct features, above the CUDA kernel's "
            f"{MAX_PATH_FEATURES}"
        )
    need = 8 * (m.num_features + m.num_class * (m.num_features + 1))
    if need > SHARED_BYTES:
        return (
            f"{m.num_features} features x {m.num_class} outputs need {need} bytes of shared "
            f"memory per row, above {SHARED_BYTES}"
        )
    return None


def choose_device(requested: str, engine: TreeShapEngine, rows: int) -> tuple[str, str]:
    """The device that runs path-dependent TreeSHAP, and why (recorded with the result).

    ``cpu``: always the CPU. ``cuda``: the GPU, or an :class:`ExplainError` saying why
    not. ``auto``: the GPU only when a real CUDA device is present, the model fits the
    kernel, and rows x leaves >= ``AUTO_MIN_LEAF_ROWS``.
    """
    if requested not in DEVICES:
        raise ExplainError(f"explain.device must be one of {', '.join(DEVICES)}, not {requested!r}")
    if requested == "cpu":
        return "cpu", "explain.device: cpu"
    leaves = int((engine.model.left < 0).sum())
    if requested == "cuda":
        if not _cuda_usable():
            raise ExplainError(
                "explain.device: cuda, but numba finds no CUDA device on this machine; "
                "use explain.device: auto or cpu."
            )
        reason = unsupported_reason(engine)
        if reason is not None:
            raise ExplainError(
                f"explain.device: cuda cannot explain this model: {reason}; use "
                "explain.device: auto or cpu."
            )
        return "cuda", "explain.device: cuda"
    work = rows * leaves
    if work < AUTO_MIN_LEAF_ROWS:
        return "cpu", (
            f"auto: {rows} rows x {leaves} leaves is below {AUTO_MIN_LEAF_ROWS} leaf-rows, "
            "too little to pay for a GPU's start and transfers"
        )
    if not cuda_device_present():
        return "cpu", "auto: no CUDA device"
    reason = unsupported_reason(engine)
    if reason is not None:
        return "cpu", f"auto: {reason}"
    return "cuda", f"auto: {rows} rows x {leaves} leaves on a CUDA device"


@dataclass(frozen=True)
class _DeviceModel:
    """The per-leaf and per-node arrays the kernel reads (on the device once uploaded)."""

    nleaves: int
    nfeat: np.ndarray  # host copy, for the limits
    arrays: tuple[Any, ...]  # kernel arguments, in order


def _device_model(engine: TreeShapEngine, *, upload: bool = True) -> _DeviceModel:
    """The model's kernel arrays; uploaded to the device on first use and kept."""
    cache = engine._device_cache
    if cache and (not upload or cache[0].arrays[0] is not None):
        return cache[0]  # type: ignore[no-any-return]
    m = engine.model
    paths = leaf_paths(m)
    qmax = max(1, (int(paths.nfeat.max(initial=0)) + 1) // 2)
    qnodes = np.zeros((qmax + 1, qmax))
    qweights = np.zeros((qmax + 1, qmax))
    for q in range(1, qmax + 1):
        nodes_q, weights_q = np.polynomial.legendre.leggauss(q)
        qnodes[q, :q] = (nodes_q + 1.0) / 2.0
        qweights[q, :q] = weights_q / 2.0
    host = (
        paths.leaf.astype(np.int64),
        m.tree_class[paths.tree].astype(np.int64),
        paths.nfeat.astype(np.int64),
        np.ascontiguousarray(paths.feature, dtype=np.int64),
        np.ascontiguousarray(paths.ratio, dtype=np.float64),
        m.value.astype(np.float64),
        m.parent.astype(np.int64),
        m.is_left.astype(np.uint8),
        m.split_feature.astype(np.int64),
        m.threshold.astype(np.float64),
        m.is_categorical.astype(np.uint8),
        m.default_left.astype(np.uint8),
        m.missing_type.astype(np.int64),
        m.cat_start.astype(np.int64),
        m.cat_len.astype(np.int64),
        m.cat_words.astype(np.int64),  # uint32 words widened: shifts stay in int64
        paths.bit.astype(np.int64),
        qnodes,
        qweights,
    )
    if not upload:
        model = _DeviceModel(len(paths.leaf), paths.nfeat, (None, *host[1:]))
        if not cache:
            cache.append(model)
        return model
    from numba import cuda

    model = _DeviceModel(len(paths.leaf), paths.nfeat, tuple(cuda.to_device(a) for a in host))
    cache.clear()
    cache.append(model)
    return model


def path_dependent_cuda(
    engine: TreeShapEngine, x: Any, *, block_threads: int = BLOCK_THREADS
) -> np.ndarray:
    """Path-dependent SHAP values plus base column on the CUDA device, laid out as
    :meth:`TreeShapEngine.path_dependent` (``pred_contrib``'s layout); float64."""
    from numba import cuda

    m = engine.model
    xm = engine._matrix(x)
    width = m.num_class * (m.num_features + 1)
    out = np.zeros((len(xm), width))
    dm = _device_model(engine)
    from auditor.explain._cuda_kernels import path_dependent as kernel

    shared = 8 * (m.num_features + width)
    for start in range(0, len(xm), CHUNK_ROWS):
        part = xm[start : start + CHUNK_ROWS]
        xd = cuda.to_device(np.ascontiguousarray(part))
        od = cuda.device_array((len(part), width), dtype=np.float64)
        kernel[len(part), block_threads, 0, shared](xd, dm.nleaves, *dm.arrays, od)
        out[start : start + len(part)] = od.copy_to_host()
    block = out.reshape(len(xm), m.num_class, m.num_features + 1)
    block[:, :, -1] += m.expected_value
    return out
