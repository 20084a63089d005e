"""Small helpers shared by every part of the project (no Detectron2, torch or dataset knowledge)."""
