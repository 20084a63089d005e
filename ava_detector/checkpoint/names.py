"""Pure name mappings: PySlowFast state-dict names and Caffe2 blob names -> ava_detector names.

Our layout (``ava_detector.modeling.backbone.SlowFast``): ``{slow,fast}_stem.conv1``,
``{slow,fast}_res{S}.{B}.{conv1,conv2,conv3,shortcut}`` (norms under ``.norm``),
``{slow,fast}_res{S}.nonlocal{B}.{theta,phi,g,out}``, ``lateral_{stem,res2,res3,res4}``; the
classifier is ``<head>.predictor``.
"""

from __future__ import annotations

import re

__all__ = ["pyslowfast_to_ours", "caffe2_to_pyslowfast", "is_classifier_name"]

_PATHWAY = {"0": "slow", "1": "fast"}
_LATERAL = {"1": "stem", "2": "res2", "3": "res3", "4": "res4"}
_BRANCH2 = {"a": "conv1", "b": "conv2", "c": "conv3"}
_C2_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_C2_PARAM = {"w": "weight", "b": "bias"}


def _pyslowfast_backbone_name(name: str) -> str | None:
    m = re.fullmatch(r"s1\.pathway([01])_stem\.(conv|bn)\.(\w+)", name)
    if m:
        sub = "conv1" if m[2] == "conv" else "conv1.norm"
        return f"{_PATHWAY[m[1]]}_stem.{sub}.{m[3]}"
    m = re.fullmatch(r"s([1-4])_fuse\.(conv_f2s|bn)\.(\w+)", name)
    if m:
        sub = "" if m[2] == "conv_f2s" else "norm."
        return f"lateral_{_LATERAL[m[1]]}.{sub}{m[3]}"
    m = re.fullmatch(
        r"s([2-5])\.pathway([01])_res(\d+)\.(branch1|branch1_bn|branch2\.[abc]|branch2\.[abc]_bn)\.(\w+)",
        name,
    )
    if m:
        branch = m[4]
        if branch.startswith("branch1"):
            sub = "shortcut" + (".norm" if branch.endswith("_bn") else "")
        else:
            sub = _BRANCH2[branch[8]] + (".norm" if branch.endswith("_bn") else "")
        return f"{_PATHWAY[m[2]]}_res{m[1]}.{m[3]}.{sub}.{m[5]}"
    m = re.fullmatch(
        r"s([2-5])\.pathway([01])_nonlocal(\d+)\.(conv_theta|conv_phi|conv_g|conv_out|bn)\.(\w+)",
        name,
    )
    if m:
        sub = "out.norm" if m[4] == "bn" else m[4][len("conv_") :]
        return f"{_PATHWAY[m[2]]}_res{m[1]}.nonlocal{m[3]}.{sub}.{m[5]}"
    return None


def pyslowfast_to_ours(
    name: str, backbone_prefix: str = "backbone.", head_prefix: str = "roi_heads."
) -> str | None:
    """Our state-dict name for a PySlowFast one, or None when it has no counterpart."""
    m = re.fullmatch(r"head\.projection\.(weight|bias)", name)
    if m:
        return f"{head_prefix}predictor.{m[1]}"
    ours = _pyslowfast_backbone_name(name)
    return None if ours is None else backbone_prefix + ours


def caffe2_to_pyslowfast(blob: str) -> str | None:
    """PySlowFast's name for a Caffe2 blob (``t_`` prefix = Fast pathway), or None for non-weights
    (``momentum``, ``lr``, ``model_iter``, ...)."""
    if blob in ("pred_w", "pred_b"):
        return f"head.projection.{_C2_PARAM[blob[-1]]}"
    pathway = "0"
    if blob.startswith("t_"):
        pathway, blob = "1", blob[2:]
    bn = r"bn_(s|b|rm|riv)"
    m = re.fullmatch(r"conv1_w", blob)
    if m:
        return f"s1.pathway{pathway}_stem.conv.weight"
    m = re.fullmatch(rf"res_conv1_{bn}", blob)
    if m:
        return f"s1.pathway{pathway}_stem.bn.{_C2_BN[m[1]]}"
    if pathway == "1":
        m = re.fullmatch(rf"(?:pool1|res([2-4])_\d+_branch2c_bn)_subsample_(?:w|{bn})", blob)
        if m:
            stage = m[1] or "1"
            tail = "conv_f2s.weight" if m[2] is None else f"bn.{_C2_BN[m[2]]}"
            return f"s{stage}_fuse.{tail}"
    m = re.fullmatch(rf"res([2-5])_(\d+)_branch(1|2a|2b|2c)_(?:w|{bn})", blob)
    if m:
        branch = "branch1" if m[3] == "1" else f"branch2.{m[3][1]}"
        tail = f"{branch}.weight" if m[4] is None else f"{branch}_bn.{_C2_BN[m[4]]}"
        return f"s{m[1]}.pathway{pathway}_res{m[2]}.{tail}"
    m = re.fullmatch(rf"nonlocal_conv([2-5])_(\d+)_(?:(theta|phi|g|out)_(w|b)|{bn})", blob)
    if m:
        tail = f"conv_{m[3]}.{_C2_PARAM[m[4]]}" if m[3] else f"bn.{_C2_BN[m[5]]}"
        return f"s{m[1]}.pathway{pathway}_nonlocal{m[2]}.{tail}"
    return None


def is_classifier_name(name: str) -> bool:
    """Whether one of our names is the classifier (skipped when only the backbone is loaded)."""
    return ".predictor." in f".{name}"
