"""PySlowFast YAML config -> ava_detector config values (pure), and the ready-to-use YAML file (I/O edge)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, SupportsInt

import yaml

from ava_detector.utils.atomic_files import atomic_write_text

__all__ = [
    "translate_pyslowfast_cfg",
    "is_detection_cfg",
    "to_nested",
    "write_config",
    "base_config_path",
]

_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
_NORMS = {"batchnorm": "BN", "sync_batchnorm": "SyncBN"}
# PySlowFast's temporal kernel basis (stem, res2..res5) per architecture.
_TEMPORAL = {"slowfast": ([1, 1, 1, 3, 3], [5, 3, 3, 3, 3]), "slow": ([1, 1, 1, 3, 3], None)}


def _get(cfg: dict, dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _pair(stage: Any) -> list:
    """A per-stage PySlowFast entry as [slow, fast] (single-pathway models give one value)."""
    values = stage if isinstance(stage, list) else [stage]
    return values * 2 if len(values) == 1 else values


def _same_for_pathways(per_stage: list, key: str) -> list:
    """PySlowFast gives strides/dilations per stage per pathway; ours are per stage (must agree)."""
    out = []
    for stage in per_stage:
        values = set(stage) if isinstance(stage, list) else {stage}
        if len(values) != 1:
            raise ValueError(
                f"RESNET.{key}: pathways with different values per stage are not supported: {stage}"
            )
        out.append(int(values.pop()))
    return out


def is_detection_cfg(psf: dict) -> bool:
    """Whether a PySlowFast config is an AVA detection model (DETECTION.ENABLE)."""
    return bool(_get(psf, "DETECTION.ENABLE", False))


def translate_pyslowfast_cfg(psf: dict) -> dict[str, Any]:
    """Our config values (flat dotted keys) equivalent to a parsed PySlowFast config."""
    arch = str(_get(psf, "MODEL.ARCH", "slowfast")).lower()
    if arch not in _TEMPORAL:
        raise ValueError(f"PySlowFast MODEL.ARCH {arch!r} is not supported (slowfast or slow)")
    detection = is_detection_cfg(psf)
    slow_t, fast_t = _TEMPORAL[arch]
    norm = (
        "FrozenBN"
        if _get(psf, "MODEL.FROZEN_BN", False)
        else _NORMS.get(_get(psf, "BN.NORM_TYPE", "batchnorm"), "BN")
    )
    pools = _get(psf, "NONLOCAL.POOL", [[[1, 2, 2]] * 2] * 4)
    out: dict[str, Any] = {
        "MODEL.META_ARCHITECTURE": "AVADetector" if detection else "VideoClassifier",
        "MODEL.SLOWFAST.ARCH": arch,
        "MODEL.SLOWFAST.DEPTH": int(_get(psf, "RESNET.DEPTH", 50)),
        "MODEL.SLOWFAST.NUM_GROUPS": int(_get(psf, "RESNET.NUM_GROUPS", 1)),
        "MODEL.SLOWFAST.WIDTH_PER_GROUP": int(_get(psf, "RESNET.WIDTH_PER_GROUP", 64)),
        "MODEL.SLOWFAST.SLOW_TEMPORAL_KERNELS": slow_t,
        "MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL": [
            [int(v) for v in _pair(s)]
            for s in _get(psf, "RESNET.NUM_BLOCK_TEMP_KERNEL", [[3, 3], [4, 4], [6, 6], [3, 3]])
        ],
        "MODEL.SLOWFAST.SPATIAL_STRIDES": _same_for_pathways(
            _get(psf, "RESNET.SPATIAL_STRIDES", [[1], [2], [2], [2]]), "SPATIAL_STRIDES"
        ),
        "MODEL.SLOWFAST.SPATIAL_DILATIONS": _same_for_pathways(
            _get(psf, "RESNET.SPATIAL_DILATIONS", [[1], [1], [1], [1]]), "SPATIAL_DILATIONS"
        ),
        "MODEL.SLOWFAST.STRIDE_1X1": bool(_get(psf, "RESNET.STRIDE_1X1", False)),
        "MODEL.SLOWFAST.ZERO_INIT_FINAL_BN": bool(_get(psf, "RESNET.ZERO_INIT_FINAL_BN", True)),
        "MODEL.SLOWFAST.NORM": norm,
        "MODEL.SLOWFAST.NONLOCAL.LOCATIONS": [
            [list(map(int, p)) for p in s] + [[]] * (2 - len(s))
            for s in _get(psf, "NONLOCAL.LOCATION", [[[]]] * 4)
        ],
        "MODEL.SLOWFAST.NONLOCAL.INSTANTIATION": str(
            _get(psf, "NONLOCAL.INSTANTIATION", "dot_product")
        ),
        "MODEL.SLOWFAST.NONLOCAL.POOL": [[list(map(int, p)) for p in _pair(s)] for s in pools],
        "MODEL.SLOWFAST.NONLOCAL.GROUP": [
            [int(g) for g in _pair(s)] for s in _get(psf, "NONLOCAL.GROUP", [[1]] * 4)
        ],
        "INPUT.NUM_FRAMES": int(_get(psf, "DATA.NUM_FRAMES", 8)),
        "INPUT.SAMPLING_RATE": int(_get(psf, "DATA.SAMPLING_RATE", 8)),
        "INPUT.TARGET_FPS": int(_get(psf, "DATA.TARGET_FPS", 30)),
        "INPUT.TRAIN_JITTER_SCALES": [
            int(v) for v in _get(psf, "DATA.TRAIN_JITTER_SCALES", [256, 320])
        ],
        "INPUT.TRAIN_CROP_SIZE": int(_get(psf, "DATA.TRAIN_CROP_SIZE", 224)),
        "INPUT.TEST_SHORT_SIDE": int(_get(psf, "DATA.TEST_CROP_SIZE", 256)),
        "MODEL.PIXEL_MEAN": [
            round(float(v) * 255.0, 6) for v in _get(psf, "DATA.MEAN", [0.45] * 3)
        ],
        "MODEL.PIXEL_STD": [round(float(v) * 255.0, 6) for v in _get(psf, "DATA.STD", [0.225] * 3)],
    }
    if fast_t is not None:
        out["MODEL.SLOWFAST.FAST_TEMPORAL_KERNELS"] = fast_t
        out["MODEL.SLOWFAST.ALPHA"] = int(_get(psf, "SLOWFAST.ALPHA", 8))
        out["MODEL.SLOWFAST.BETA_INV"] = int(_get(psf, "SLOWFAST.BETA_INV", 8))
        out["MODEL.SLOWFAST.FUSION_CONV_CHANNEL_RATIO"] = int(
            _get(psf, "SLOWFAST.FUSION_CONV_CHANNEL_RATIO", 2)
        )
        out["MODEL.SLOWFAST.FUSION_KERNEL_SIZE"] = int(_get(psf, "SLOWFAST.FUSION_KERNEL_SZ", 5))
    num_classes = int(_get(psf, "MODEL.NUM_CLASSES", 80 if detection else 400))
    head = "MODEL.ROI_ACTION_HEAD" if detection else "MODEL.CLS_HEAD"
    out[f"{head}.DROPOUT"] = float(_get(psf, "MODEL.DROPOUT_RATE", 0.5))
    out[f"{head}.ACTIVATION"] = str(
        _get(psf, "MODEL.HEAD_ACT", "sigmoid" if detection else "softmax")
    )
    out[f"{head}.INIT_STD"] = float(_get(psf, "MODEL.FC_INIT_STD", 0.01))
    if detection:
        stride = 4 * _prod(out["MODEL.SLOWFAST.SPATIAL_STRIDES"])
        scale = int(_get(psf, "DETECTION.SPATIAL_SCALE_FACTOR", 16))
        if scale != stride:
            raise ValueError(
                f"DETECTION.SPATIAL_SCALE_FACTOR {scale} differs from the backbone stride {stride}"
            )
        out["MODEL.ROI_HEADS.NUM_CLASSES"] = num_classes
        out["MODEL.ROI_ACTION_HEAD.ALIGNED"] = bool(_get(psf, "DETECTION.ALIGNED", True))
        out["MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION"] = int(
            _get(psf, "DETECTION.ROI_XFORM_RESOLUTION", 7)
        )
        thresh = float(_get(psf, "AVA.DETECTION_SCORE_THRESH", 0.8))
        out["AVA.TRAIN_PROPOSAL_SCORE_THRESH"] = thresh
        out["AVA.TEST_PROPOSAL_SCORE_THRESH"] = thresh
    else:
        out["MODEL.CLS_HEAD.NUM_CLASSES"] = num_classes
    return out


def _prod(values: Iterable[SupportsInt]) -> int:
    p = 1
    for v in values:
        p *= int(v)
    return p


def to_nested(flat: dict[str, Any]) -> dict[str, Any]:
    """{"A.B": v} -> {"A": {"B": v}} for YAML output."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return nested


def base_config_path(detection: bool) -> Path:
    """configs/Base-SlowFast.yaml (AVA) or configs/kinetics/Base-SlowFast-Kinetics.yaml."""
    return _CONFIGS / (
        "Base-SlowFast.yaml" if detection else "kinetics/Base-SlowFast-Kinetics.yaml"
    )


def write_config(
    flat: dict[str, Any],
    path: str,
    *,
    detection: bool,
    weights: str | None = None,
    header: str = "",
) -> None:
    """Write an ava_detector YAML that ``_BASE_``s on the project base config, atomically."""
    values = dict(flat)
    if weights is not None:
        values["MODEL.WEIGHTS"] = os.path.abspath(weights)
    target = Path(path).resolve()
    base = base_config_path(detection)
    try:
        base_ref = os.path.relpath(base, target.parent)
    except ValueError:
        base_ref = str(base)
    doc = {"_BASE_": base_ref, **to_nested(values)}
    text = (f"# {header}\n" if header else "") + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=None
    )
    atomic_write_text(target, text)
