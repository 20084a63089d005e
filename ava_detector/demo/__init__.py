"""The demo on any video: person boxes, per-person actions, an annotated video, a CSV and JSONs."""
