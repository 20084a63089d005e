"""The project's checkpointers: Detectron2's ``DetectionCheckpointer`` with safe loading, atomic
saving and a resume that survives interrupted writes; ``VideoCheckpointer`` also reads PySlowFast
``.pyth`` and Caffe2 ``.pkl`` files (detected by content), maps their names on the fly and reports
everything it leaves out.

Saving: every checkpoint and the ``last_checkpoint`` tag are written to a temporary file in the
same folder, fsync'ed and renamed (:mod:`.atomic`), so a kill leaves the old file or the new one.
Resuming: the tag's checkpoint when it is complete; when the tag is missing, empty or names a
missing or damaged file, the newest complete ``model_final.pth`` / ``model_<iter>.pth`` (logged,
with why each newer file was passed over).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from fvcore.common.checkpoint import _IncompatibleKeys
from torch import nn

from ava_detector.checkpoint.convert import (
    ConversionResult,
    convert_any,
    split_backbone,
)
from ava_detector.checkpoint.safe_load import (
    CheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
)
from ava_detector.utils.atomic_files import (
    atomic_open,
    atomic_write_text,
)

__all__ = [
    "VideoCheckpointer",
    "LAST_CHECKPOINT",
    "SafeDetectionCheckpointer",
    "checkpoint_problem",
    "name_prefixes",
]

logger = logging.getLogger(__name__)

#: fvcore's tag file naming the last checkpoint written in a save directory.
LAST_CHECKPOINT = "last_checkpoint"
_NUMBERED = re.compile(r"^model_(\d+)\.pth$")
_FINAL = "model_final.pth"
# Buffers that the config sets and old checkpoints may lack (Detectron2 ignores them too).
_OPTIONAL = ("pixel_mean", "pixel_std", "num_batches_tracked")


def name_prefixes(model_keys: Iterable[str]) -> tuple[str, str]:
    """(backbone prefix, classifier-head prefix) of a model: "backbone." / "roi_heads." (AVA) or
    "cls_head." (video classifier); "" for a bare backbone.

    Args:
        model_keys: the model's state-dict names.
    """
    keys = list(model_keys)
    backbone = "backbone." if any(k.startswith("backbone.") for k in keys) else ""
    head = "roi_heads."
    for prefix in ("roi_heads.", "cls_head.", "head."):
        if any(k.startswith(prefix) for k in keys):
            head = prefix
            break
    return backbone, head


def checkpoint_problem(path: str) -> str | None:
    """Why ``path`` cannot be resumed from (missing, empty, truncated, no ``model``), or None when
    it is a complete checkpoint. A file that would run code raises instead: it is not "damaged".

    Args:
        path: a checkpoint written by a checkpointer (a PyTorch zip file).

    Raises:
        UnsafeCheckpointError: the file holds objects other than tensors and containers.
    """
    if not os.path.isfile(path):
        return "missing"
    try:
        obj = load_checkpoint_file(path, mmap=True)
    except UnsafeCheckpointError:
        raise
    except (CheckpointError, FileNotFoundError) as err:
        return getattr(err, "problem", str(err))
    if not isinstance(obj, Mapping) or not isinstance(obj.get("model"), Mapping):
        return "holds no 'model' state"
    return None


def _resume_candidates(folder: str) -> list[str]:
    """``model_final.pth`` then ``model_<iter>.pth`` by descending iteration: newest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    numbered = sorted((int(m[1]), n) for n in names if (m := _NUMBERED.match(n)))
    return ([_FINAL] if _FINAL in names else []) + [n for _, n in reversed(numbered)]


class SafeDetectionCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that never unpickles code, writes atomically and resumes from the
    newest complete checkpoint.

    Files are read with ``torch.load(weights_only=True)`` or a restricted unpickler
    (:func:`load_checkpoint_file`); Detectron2's formats (its own checkpoints, model-zoo ``.pkl``,
    Caffe2 blobs, pycls ``.pyth``) are recognised by content as ``DetectionCheckpointer`` does by
    file name.
    """

    def _load_file(self, filename: str) -> dict[str, Any]:
        data = load_checkpoint_file(filename)
        if not isinstance(data, Mapping):
            raise CheckpointError(filename, f"not a checkpoint (a {type(data).__name__})")
        data = dict(data)
        if "model" in data and "__author__" in data:  # Detectron2 model zoo
            self.logger.info("Reading a file from '%s'", data["__author__"])
            return data
        if "model" in data:  # a checkpointer's own file
            return data
        if "model_state" in data:  # pycls
            state = {
                k: v
                for k, v in data["model_state"].items()
                if not k.endswith("num_batches_tracked")
            }
            return {"model": state, "__author__": "pycls", "matching_heuristics": True}
        if "blobs" in data or (data and all(isinstance(v, np.ndarray) for v in data.values())):
            blobs = data.get("blobs", data)
            blobs = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
            return {"model": blobs, "__author__": "Caffe2", "matching_heuristics": True}
        return {"model": data}

    # ------------------------------------------------------------------ saving
    def save(self, name: str, **kwargs: Any) -> None:
        """fvcore's ``save`` (model, checkpointables, ``kwargs``), written atomically, then the tag.

        Args:
            name: file name without ``.pth``.
            kwargs: extra data stored in the checkpoint (e.g. ``iteration``).
        """
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        with atomic_open(save_file) as f:
            torch.save(data, f)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """Write the ``last_checkpoint`` tag atomically.

        Args:
            last_filename_basename: the checkpoint's file name inside the save directory.
        """
        atomic_write_text(os.path.join(self.save_dir, LAST_CHECKPOINT), last_filename_basename)

    # ------------------------------------------------------------------ resuming
    def _read_tag(self) -> str:
        try:
            with open(os.path.join(self.save_dir, LAST_CHECKPOINT)) as f:
                return f.read().strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def find_resume_checkpoint(self) -> str:
        """The checkpoint to resume from, or "" when the save directory holds no complete one.

        The tag's file when it is complete; otherwise the newest complete ``model_final.pth`` /
        ``model_<iter>.pth``. Each file passed over is logged with the reason (once per state of
        the directory).

        Raises:
            UnsafeCheckpointError: a candidate would run code.
        """
        if not self.save_dir or not os.path.isdir(self.save_dir):
            return ""
        tag = self._read_tag()
        passed: list[str] = []
        if tag:
            tagged = os.path.join(self.save_dir, tag)
            problem = checkpoint_problem(tagged)
            if problem is None:
                return tagged
            passed.append(f"{LAST_CHECKPOINT} names {tag}: {problem}")
        elif os.path.exists(os.path.join(self.save_dir, LAST_CHECKPOINT)):
            passed.append(f"{LAST_CHECKPOINT} is empty")
        chosen = ""
        for name in _resume_candidates(self.save_dir):
            if name == tag:
                continue
            path = os.path.join(self.save_dir, name)
            problem = checkpoint_problem(path)
            if problem is None:
                chosen = path
                break
            passed.append(f"{name}: {problem}")
        if chosen and not tag and not passed:
            passed.append(f"no {LAST_CHECKPOINT} tag")
        message = "; ".join(passed)
        key = (message, chosen)
        if passed and getattr(self, "_logged_choice", None) != key:
            self._logged_choice = key
            if chosen:
                logger.warning(
                    "resume: %s -> resuming from %s, the newest complete checkpoint",
                    message,
                    chosen,
                )
            else:
                logger.warning("resume: %s -> no complete checkpoint in %s", message, self.save_dir)
        return chosen

    def has_checkpoint(self) -> bool:
        """Whether the save directory holds a complete checkpoint to resume from."""
        return bool(self.find_resume_checkpoint())

    def get_checkpoint_file(self) -> str:
        """The checkpoint :meth:`resume_or_load` resumes from ("" when none is complete)."""
        return self.find_resume_checkpoint()

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        """Resume from :meth:`find_resume_checkpoint` (everything: model, optimizer, iteration) or,
        when not resuming or nothing complete is there, load the model weights of ``path``.

        Args:
            path: the initial weights (``MODEL.WEIGHTS``); "" = the model's own initialisation.
            resume: whether to continue from the save directory.
        """
        if resume:
            found = self.find_resume_checkpoint()
            if found:
                return self._resume_from(found)
        return self.load(path, checkpointables=[])

    def _resume_from(self, path: str) -> dict[str, Any]:
        """Load everything of the save directory's checkpoint ``path``."""
        return self.load(path)


class VideoCheckpointer(SafeDetectionCheckpointer):
    """``SafeDetectionCheckpointer`` + PySlowFast / Caffe2 import, and loads that fit the model.

    With ``backbone_only`` (MODEL.WEIGHTS_BACKBONE_ONLY, e.g. a Kinetics model initialising an AVA
    detector) the classifier is skipped and listed, and no iteration/optimizer state is restored.
    A tensor whose shape differs from the model's (e.g. a head trained for another number of
    classes) is an error (:class:`CheckpointError`), not a silently skipped tensor; with
    ``require_complete`` (evaluation) so is a model tensor the file does not provide.

    Args:
        model: the model whose ``state_dict`` is saved and loaded.
        save_dir: the folder checkpoints are written to and resumed from ("": no saving).
        backbone_only: load only the backbone's tensors of a file (``MODEL.WEIGHTS_BACKBONE_ONLY``).
        require_complete: every model tensor (except the config-set buffers) must be in the file.
        checkpointables: other objects with ``state_dict`` / ``load_state_dict`` saved alongside
            (``optimizer=``, ``scheduler=``, ...), as for fvcore's ``Checkpointer``.
    """

    def __init__(
        self,
        model: nn.Module,
        save_dir: str = "",
        *,
        backbone_only: bool = False,
        require_complete: bool = False,
        **checkpointables: Any,
    ) -> None:
        super().__init__(model, save_dir, **checkpointables)
        self.backbone_only = backbone_only
        self.require_complete = require_complete
        self._loading = ""

    def _load_file(self, filename: str) -> dict[str, Any]:
        self._loading = filename
        obj = load_checkpoint_file(filename)
        backbone_prefix, head_prefix = name_prefixes(self.model.state_dict().keys())
        try:
            result: ConversionResult = convert_any(obj, backbone_prefix, head_prefix)
        except ValueError as err:
            raise CheckpointError(filename, str(err)) from None
        if result.unmapped:
            logger.warning(
                "%s: %d tensors not used (no ava_detector counterpart): %s",
                filename,
                len(result.unmapped),
                ", ".join(f"{k} ({why})" for k, why in sorted(result.unmapped.items())),
            )
        state = result.state_dict
        if self.backbone_only:
            state, skipped = split_backbone(state)
            if skipped:
                logger.info(
                    "%s: backbone only, classifier skipped: %s", filename, ", ".join(skipped)
                )
            return {"model": state, "matching_heuristics": bool(obj.get("__author__"))}
        if result.source_format == "detectron2":
            out = dict(obj)
            if out.get("__author__"):
                out["matching_heuristics"] = True
            return out
        logger.info(
            "%s: %s checkpoint, %d tensors mapped", filename, result.source_format, len(state)
        )
        return {"model": state, "__author__": result.source_format}

    def _resume_from(self, path: str) -> dict[str, Any]:
        """A run's own checkpoint loads whole: ``backbone_only`` is about the initial weights."""
        backbone_only, self.backbone_only = self.backbone_only, False
        try:
            return self.load(path)
        finally:
            self.backbone_only = backbone_only

    def _load_model(self, checkpoint: dict[str, Any]) -> _IncompatibleKeys:
        incompatible = super()._load_model(checkpoint)
        name = self._loading or "checkpoint"
        if incompatible.incorrect_shapes:
            shapes = incompatible.incorrect_shapes
            key, ckpt_shape, model_shape = shapes[0]
            head_only = all(".predictor." in f".{k}" for k, _, _ in shapes)
            hint = (
                "the number of classes differs (MODEL.ROI_HEADS.NUM_CLASSES / "
                "MODEL.CLS_HEAD.NUM_CLASSES); set MODEL.WEIGHTS_BACKBONE_ONLY True to "
                "initialise the backbone only"
                if head_only
                else "the checkpoint is of another architecture than the config (MODEL.SLOWFAST)"
            )
            raise CheckpointError(
                name,
                f"{len(shapes)} tensor(s) do not fit the model, e.g. {key}: "
                f"{tuple(ckpt_shape)} in the file, {tuple(model_shape)} in the model; {hint}",
            )
        if self.require_complete:
            missing = [k for k in incompatible.missing_keys if k.split(".")[-1] not in _OPTIONAL]
            if missing:
                raise CheckpointError(
                    name,
                    f"{len(missing)} model tensor(s) are not in the file (e.g. "
                    f"{', '.join(missing[:3])}): evaluating would use random weights for them",
                )
        return incompatible
