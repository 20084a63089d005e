"""The architectures of ``MODEL.SLOWFAST.ARCH``: which pathways each builds and how many frames each
pathway's clip has. The one place this mapping is written; data, models and FLOP counts read it.

- ``"slowfast"``: both pathways; the Fast clip has ``NUM_FRAMES`` frames, the Slow one
  ``NUM_FRAMES // ALPHA`` picked from it;
- ``"slow"`` (Slow-only) and ``"fast"`` (Fast-only): one pathway reading one clip.

Two conventions exist for the Slow-only clip, and each task keeps its recipe's: AVA derives it from
the Fast sampling (``NUM_FRAMES // ALPHA`` frames at stride ``SAMPLING_RATE x ALPHA``: a 32x2 config
gives the "8x8" input), Kinetics reads ``NUM_FRAMES`` at ``SAMPLING_RATE`` as written (PySlowFast's
8x8 Kinetics configs). ``slow_from_fast`` selects the first.
"""

from __future__ import annotations

__all__ = ["ARCHS", "check_arch", "clip_sampling", "pathway_frames", "pathways_of"]

ARCHS: tuple[str, ...] = ("slowfast", "slow", "fast")
_PATHWAYS: dict[str, tuple[str, ...]] = {
    "slowfast": ("slow", "fast"),
    "slow": ("slow",),
    "fast": ("fast",),
}


def check_arch(arch: str) -> str:
    """``arch`` itself, or ``ValueError`` naming the key and the choices."""
    if arch not in _PATHWAYS:
        raise ValueError(f"MODEL.SLOWFAST.ARCH must be one of {', '.join(ARCHS)}, got {arch!r}")
    return arch


def pathways_of(arch: str) -> tuple[str, ...]:
    """The pathways ("slow", "fast") that ``arch`` builds, in the backbone's order."""
    return _PATHWAYS[check_arch(arch)]


def clip_sampling(
    arch: str, num_frames: int, sampling_rate: int, alpha: int, *, slow_from_fast: bool
) -> tuple[int, int]:
    """``(frames, stride)`` read from the source for one clip of ``arch`` (the Fast clip for SlowFast).

    Args:
        arch: ``MODEL.SLOWFAST.ARCH``.
        num_frames: ``INPUT.NUM_FRAMES``.
        sampling_rate: ``INPUT.SAMPLING_RATE`` (frames of the ``TARGET_FPS`` timeline).
        alpha: ``MODEL.SLOWFAST.ALPHA``.
        slow_from_fast: the AVA convention for Slow-only (see the module docstring).
    """
    if check_arch(arch) == "slow" and slow_from_fast:
        return num_frames // alpha, sampling_rate * alpha
    return num_frames, sampling_rate


def pathway_frames(
    arch: str, num_frames: int, alpha: int, *, slow_from_fast: bool
) -> dict[str, int]:
    """Frames of each pathway's input clip, e.g. ``{"slow": 8, "fast": 32}`` for SlowFast 32, alpha 4.

    Args:
        arch: ``MODEL.SLOWFAST.ARCH``.
        num_frames: ``INPUT.NUM_FRAMES``.
        alpha: ``MODEL.SLOWFAST.ALPHA``.
        slow_from_fast: the AVA convention for Slow-only (see the module docstring).
    """
    subsampled = check_arch(arch) == "slowfast" or (arch == "slow" and slow_from_fast)
    if subsampled and (alpha <= 0 or num_frames // alpha == 0):
        raise ValueError(f"NUM_FRAMES={num_frames} must be at least ALPHA={alpha} > 0")
    if arch == "slowfast":
        return {"slow": num_frames // alpha, "fast": num_frames}
    if arch == "slow":
        return {"slow": num_frames // alpha if slow_from_fast else num_frames}
    return {"fast": num_frames}
