"""Project configuration: ``add_ava_config`` adds every ava_detector key to a Detectron2 config."""

from .defaults import add_ava_config, get_ava_cfg

__all__ = ["add_ava_config", "get_ava_cfg"]
