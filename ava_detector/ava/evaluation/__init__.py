"""AVA evaluation: frame mAP (pure NumPy, no torch), CSV I/O, the Detectron2 evaluator, reports."""
