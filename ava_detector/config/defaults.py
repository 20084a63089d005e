"""Every configuration key ava_detector adds to Detectron2's defaults, one comment each.

Detectron2 keys keep their meaning; the ones this project relies on are re-set here to the SlowFast
recipe (e.g. ``MODEL.PIXEL_MEAN`` in RGB 0-255 units, ``INPUT.FORMAT``). One function per concept,
as Detectron2's projects write theirs: ``add_slowfast_config`` (``MODEL.SLOWFAST``),
``add_action_head_config`` / ``add_cls_head_config`` (heads), ``add_clip_input_config`` (``INPUT``),
``add_ava_data_config`` / ``add_kinetics_data_config`` (datasets), ``add_data_loading_config``,
``add_solver_config``; :func:`add_ava_config` composes them all.
"""

from __future__ import annotations

from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg


def add_video_model_config(cfg: CN) -> CN:
    """The meta-architecture, backbone and head names and the pixel normalisation (the AVA detector
    by default; the Kinetics configs set ``VideoClassifier``)."""
    _C = cfg
    _C.MODEL.META_ARCHITECTURE = "AVADetector"
    _C.MODEL.BACKBONE.NAME = "build_slowfast_backbone"
    _C.MODEL.ROI_HEADS.NAME = "AVAActionHead"
    # 80 AVA action ids; training uses all of them, evaluation the 60 of the label map.
    _C.MODEL.ROI_HEADS.NUM_CLASSES = 80
    # RGB, 0-255 units: PySlowFast's mean 0.45 / std 0.225 on [0, 1] frames.
    _C.MODEL.PIXEL_MEAN = [114.75, 114.75, 114.75]
    _C.MODEL.PIXEL_STD = [57.375, 57.375, 57.375]
    _C.INPUT.FORMAT = "RGB"
    return cfg


def add_slowfast_config(cfg: CN) -> CN:
    """The SlowFast backbone: ``MODEL.SLOWFAST`` (architecture, depth, alpha/beta, kernels, non-local)."""
    _C = cfg
    _C.MODEL.SLOWFAST = CN()
    # "slowfast", "slow" (Slow-only) or "fast" (Fast-only): which pathways exist.
    _C.MODEL.SLOWFAST.ARCH = "slowfast"
    # ResNet depth: 50 or 101 (bottleneck blocks 3,4,6,3 / 3,4,23,3).
    _C.MODEL.SLOWFAST.DEPTH = 50
    # Groups of the 3x3 conv (1 = plain ResNet).
    _C.MODEL.SLOWFAST.NUM_GROUPS = 1
    # Channels per group of the first stage's bottleneck (64 = ResNet-50; Slow stem has this many).
    _C.MODEL.SLOWFAST.WIDTH_PER_GROUP = 64
    # Frame-rate ratio alpha between the Fast and the Slow pathway.
    _C.MODEL.SLOWFAST.ALPHA = 4
    # Channel-ratio inverse 1/beta: Fast channels = Slow channels / BETA_INV.
    _C.MODEL.SLOWFAST.BETA_INV = 8
    # How C / BETA_INV is rounded when BETA_INV does not divide C: "floor" (PySlowFast, its checkpoints)
    # or "ceil" (the widths behind the paper's Table 2 FLOPs for beta = 1/6 and 1/12).
    _C.MODEL.SLOWFAST.FAST_CHANNEL_ROUNDING = "floor"
    # Lateral conv output = FUSION_CONV_CHANNEL_RATIO x Fast channels (2 beta C).
    _C.MODEL.SLOWFAST.FUSION_CONV_CHANNEL_RATIO = 2
    # Temporal kernel of the time-strided lateral conv (paper 5; PySlowFast AVA 32x2 configs use 7).
    _C.MODEL.SLOWFAST.FUSION_KERNEL_SIZE = 7
    # Temporal kernel of the Slow pathway's stem, res2, res3, res4, res5 (first conv of each block).
    _C.MODEL.SLOWFAST.SLOW_TEMPORAL_KERNELS = [1, 1, 1, 3, 3]
    # Temporal kernel of the Fast pathway's stem, res2, res3, res4, res5.
    _C.MODEL.SLOWFAST.FAST_TEMPORAL_KERNELS = [5, 3, 3, 3, 3]
    # Per stage (res2..res5), per pathway [slow, fast]: how many leading blocks use the temporal
    # kernel (the rest use 1); large values mean "all blocks" (R101_50_50 uses e.g. [[3,3],[4,4],[6,6],[3,3]]).
    _C.MODEL.SLOWFAST.NUM_BLOCK_TEMP_KERNEL = [[3, 3], [4, 4], [6, 6], [3, 3]]
    # Spatial stride of res2..res5 (detection: res5 stride 1 -> total stride 16).
    _C.MODEL.SLOWFAST.SPATIAL_STRIDES = [1, 2, 2, 1]
    # Spatial dilation of res2..res5 (detection: res5 dilation 2).
    _C.MODEL.SLOWFAST.SPATIAL_DILATIONS = [1, 1, 1, 2]
    # Put the spatial stride on the 1x1 conv (Caffe2 MSRA style) instead of the 3x3 one.
    _C.MODEL.SLOWFAST.STRIDE_1X1 = False
    # Normalisation through detectron2.layers.get_norm: "BN", "FrozenBN", "SyncBN", "" ...
    _C.MODEL.SLOWFAST.NORM = "BN"
    # Zero-initialise the last BN of every residual block (the paper's init).
    _C.MODEL.SLOWFAST.ZERO_INIT_FINAL_BN = True
    # Freeze the stem (1) and res2..resN (N) after loading weights; 0 trains everything.
    _C.MODEL.SLOWFAST.FREEZE_AT = 0
    _C.MODEL.SLOWFAST.NONLOCAL = CN()
    # Per stage (res2..res5), per pathway [slow, fast]: block indices followed by a non-local block.
    _C.MODEL.SLOWFAST.NONLOCAL.LOCATIONS = [[[], []], [[], []], [[], []], [[], []]]
    # "dot_product" (scaled by 1/N) or "softmax" (embedded Gaussian) affinity.
    _C.MODEL.SLOWFAST.NONLOCAL.INSTANTIATION = "dot_product"
    # Spatial-temporal max-pool [t, h, w] of keys/values inside the non-local block, per stage.
    _C.MODEL.SLOWFAST.NONLOCAL.POOL = [[1, 2, 2], [1, 2, 2], [1, 2, 2], [1, 2, 2]]
    # Non-local blocks per group (1 = plain).
    _C.MODEL.SLOWFAST.NONLOCAL.GROUP = [[1, 1], [1, 1], [1, 1], [1, 1]]
    return cfg


def add_action_head_config(cfg: CN) -> CN:
    """The AVA action head: ``MODEL.ROI_ACTION_HEAD`` (RoIAlign, dropout, activation)."""
    _C = cfg
    _C.MODEL.ROI_ACTION_HEAD = CN()
    # RoIAlign output size (7 -> 7x7) on each temporally pooled pathway.
    _C.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 7
    # RoIAlign sampling ratio (0 = adaptive, as PySlowFast).
    _C.MODEL.ROI_ACTION_HEAD.POOLER_SAMPLING_RATIO = 0
    # RoIAlign half-pixel alignment (PySlowFast DETECTION.ALIGNED; False for the Caffe2 models).
    _C.MODEL.ROI_ACTION_HEAD.ALIGNED = True
    # Dropout before the classifier.
    _C.MODEL.ROI_ACTION_HEAD.DROPOUT = 0.5
    # Output activation: "sigmoid" (multi-label AVA) or "softmax".
    _C.MODEL.ROI_ACTION_HEAD.ACTIVATION = "sigmoid"
    # Std of the classifier's normal init (the paper's code: 0.01).
    _C.MODEL.ROI_ACTION_HEAD.INIT_STD = 0.01
    return cfg


def add_cls_head_config(cfg: CN) -> CN:
    """The Kinetics classification head: ``MODEL.CLS_HEAD``."""
    _C = cfg
    _C.MODEL.CLS_HEAD = CN()
    # The head's name in CLS_HEAD_REGISTRY (ava_detector.modeling.cls_heads).
    _C.MODEL.CLS_HEAD.NAME = "build_kinetics_head"
    # Number of video classes (Kinetics-400).
    _C.MODEL.CLS_HEAD.NUM_CLASSES = 400
    # Dropout before the classifier.
    _C.MODEL.CLS_HEAD.DROPOUT = 0.5
    # Output activation at test: "softmax" or "sigmoid".
    _C.MODEL.CLS_HEAD.ACTIVATION = "softmax"
    # Std of the classifier's normal init.
    _C.MODEL.CLS_HEAD.INIT_STD = 0.01
    return cfg


def add_clip_input_config(cfg: CN) -> CN:
    """Clip sampling, augmentation and decoding: ``INPUT.*``."""
    _C = cfg
    # Frames of the Fast pathway's clip (Slow gets NUM_FRAMES / ALPHA of them); "32x2" = 32 at stride 2.
    _C.INPUT.NUM_FRAMES = 32
    # Stride between sampled frames, in frames of the source video's timeline.
    _C.INPUT.SAMPLING_RATE = 2
    # Frame rate the sampling rate refers to (AVA and Kinetics recipes: 30 fps).
    _C.INPUT.TARGET_FPS = 30
    # Training short-side jitter range [min, max], sampled inverse-uniformly (PySlowFast).
    _C.INPUT.TRAIN_JITTER_SCALES = [256, 320]
    # Training random square crop size.
    _C.INPUT.TRAIN_CROP_SIZE = 224
    # Where the training crop's corner lies: "source" = on a pixel of the frame before scaling (only
    # the window is resized: ~3x less resizing), "resized" = on a pixel of the scaled frame
    # (PySlowFast's order: scale the whole frame, then crop). Same draws; < 1 px of offset apart.
    _C.INPUT.TRAIN_CROP_GRID = "source"
    # Test short side (the whole frame is used; fully convolutional).
    _C.INPUT.TEST_SHORT_SIDE = 256
    # Random brightness/contrast/saturation jitter in training (0 disables), as a fraction.
    _C.INPUT.COLOR_JITTER = 0.0
    # Where frames come from: "frames" (JPEG folders + frame lists) or "video" (PyAV decoding).
    _C.INPUT.SOURCE = "frames"
    # Decode JPEG frames at 1/2, 1/4, 1/8 size (DCT scaling) where that still covers the largest short
    # side the transforms scale to (opt-in: pixels differ slightly from full decoding + resizing).
    _C.INPUT.JPEG_REDUCED_DECODE = False
    # Pad batched clips so H and W are multiples of this (network stride).
    _C.INPUT.SIZE_DIVISIBILITY = 32
    # Where JPEG frames are decoded and transformed: "cpu" = in the DataLoader workers; "cuda" /
    # "cuda:N" = workers read bytes, the model decodes (nvJPEG) and transforms on the GPU; "cpu:bytes"
    # = that device path on the CPU (same clips as "cpu"). INPUT.SOURCE "video" always decodes in the workers.
    _C.INPUT.DECODE_DEVICE = "cpu"
    return cfg


def add_ava_data_config(cfg: CN) -> CN:
    """The AVA datasets and their evaluation: ``AVA.*``."""
    _C = cfg
    _C.AVA = CN()
    # Root of the built-in AVA layout; "" = $AVA_DATASETS or $DETECTRON2_DATASETS/ava or datasets/ava.
    _C.AVA.ROOT = ""
    # Root of the generated synthetic set; "" = $AVA_SYNTHETIC_DATASETS or datasets/ava_synthetic.
    _C.AVA.SYNTHETIC_ROOT = ""
    # Own datasets in the AVA layout with a dataset.json, as "NAME=ROOT" (or "ROOT": NAME = its folder
    # name): each registers NAME_train and NAME_val, classes from the root's label map.
    _C.AVA.DATASETS = ()
    # Keep detector proposals with score >= this in training (and label them from GT by IoU).
    _C.AVA.TRAIN_PROPOSAL_SCORE_THRESH = 0.8
    # Keep detector proposals with score >= this at test.
    _C.AVA.TEST_PROPOSAL_SCORE_THRESH = 0.8
    # A training proposal takes the labels of a GT box it overlaps with IoU >= this.
    _C.AVA.PROPOSAL_GT_IOU = 0.9
    # Add detector proposals to the training boxes (paper: 27.3 -> 28.2 mAP).
    _C.AVA.TRAIN_USE_PROPOSALS = True
    # GT-box mode: the annotated boxes are the test proposals; keyframes come from the GT file.
    _C.AVA.GT_BOXES = False
    # Skip malformed annotation rows (logged with a count) instead of raising.
    _C.AVA.LENIENT = False
    # Evaluate on every k-th second only (the "mini-val": predictions and ground truth); 1 = all.
    _C.AVA.EVAL_EVERY_K_SECONDS = 1
    # Frame-mAP protocol: "official", "activitynet-2019", "pyslowfast" or "mmaction2".
    _C.AVA.EVAL_PROTOCOL = "official"
    # Train and evaluate on these action ids only (e.g. (12, 14, 17)); the head has one output per id
    # in this order, and detections are written with the ids themselves. () = every class.
    _C.AVA.CLASS_SUBSET = ()
    # Accept frame-list paths that leave the frames folder (absolute or with ".."); off = an error.
    _C.AVA.ALLOW_PATHS_OUTSIDE_ROOT = False
    return cfg


def add_kinetics_data_config(cfg: CN) -> CN:
    """The Kinetics datasets and their evaluation: ``KINETICS.*``."""
    _C = cfg
    _C.KINETICS = CN()
    # Root of the Kinetics-style lists and videos; "" = $KINETICS_DATASETS or datasets/kinetics.
    _C.KINETICS.ROOT = ""
    # Test views: temporal clips per video.
    _C.KINETICS.TEST_NUM_CLIPS = 10
    # Test views: spatial crops per clip (3 = left/centre/right).
    _C.KINETICS.TEST_NUM_CROPS = 3
    # How test views are combined per video: "sum" or "max" of softmax scores.
    _C.KINETICS.ENSEMBLE = "sum"
    # Root of the generated Kinetics-format set; "" = $KINETICS_SYNTHETIC_DATASETS or datasets/kinetics_synthetic.
    _C.KINETICS.SYNTHETIC_ROOT = ""
    # Prefix joined to every path of a list; "" = the folder holding the list.
    _C.KINETICS.PATH_PREFIX = ""
    # A video shorter than this fraction of the clip span (NUM_FRAMES x SAMPLING_RATE / TARGET_FPS) is skipped.
    _C.KINETICS.MIN_CLIP_COVERAGE = 1.0
    # Most-confused (true, predicted) class pairs listed in the evaluation report.
    _C.KINETICS.CONFUSION_TOP_K = 10
    # Accept list entries that leave the list's root (absolute or with ".."); off = an error.
    _C.KINETICS.ALLOW_PATHS_OUTSIDE_ROOT = False
    return cfg


def add_data_loading_config(cfg: CN) -> CN:
    """Bad-sample policy of the loaders: ``DATALOADER.*`` extras."""
    _C = cfg
    # On an unreadable or corrupt clip in training, draw another sample (counted in the log)
    # instead of raising; at test an unreadable clip always raises.
    _C.DATALOADER.SKIP_BAD_SAMPLES = False
    # Retries of the above before giving up with the last error.
    _C.DATALOADER.MAX_BAD_SAMPLE_RETRIES = 10
    # Training order in runs of this many consecutive keyframes of one video (shuffled runs, each
    # in time order, read by one worker in turn): with INPUT.SOURCE video a clip continues decoding
    # from the previous one instead of seeking. 1 = every record drawn on its own (PySlowFast's order).
    _C.DATALOADER.CONSECUTIVE_KEYFRAMES = 1
    # Where a run goes: "worker" (one keyframe per batch of the worker that reads the run: every
    # batch holds B different runs; each worker keeps B videos open, and the order depends on
    # DATALOADER.NUM_WORKERS) or "batch" (its keyframes side by side in one batch: a batch of B
    # holds B / runs; best with a per-process batch that is a multiple of the run).
    _C.DATALOADER.CONSECUTIVE_KEYFRAMES_IN = "worker"
    return cfg


def add_solver_config(cfg: CN) -> CN:
    """Mixed precision, the NaN stop, initialisation and test batch: ``SOLVER`` / ``MODEL`` / ``TEST`` extras."""
    _C = cfg
    # Mixed-precision dtype on GPU when SOLVER.AMP.ENABLED: "bfloat16" or "float16" (CPU: off).
    _C.SOLVER.AMP.DTYPE = "bfloat16"
    # Stop with an error on a non-finite loss (the last good checkpoint stays intact).
    _C.SOLVER.STOP_ON_NAN = True
    # Where MODEL.WEIGHTS comes from a classification (Kinetics) model: keep only the backbone,
    # skip the classifier, and start at iteration 0.
    _C.MODEL.WEIGHTS_BACKBONE_ONLY = False
    # What MODEL.WEIGHTS should initialise from (e.g. "a Kinetics-600 SlowFast R101"); training with
    # empty weights then warns that it starts from scratch. "" = no initialisation expected.
    _C.MODEL.EXPECTED_INIT = ""
    # Allow --eval-only without MODEL.WEIGHTS, or with weights lacking tensors (random ones, on purpose).
    _C.MODEL.ALLOW_RANDOM_WEIGHTS = False

    # Clips per batch and process at test (Detectron2 0.6's test loader is fixed at 1).
    _C.TEST.IMS_PER_BATCH = 1
    return cfg


def add_ava_config(cfg: CN) -> CN:
    """Add every ava_detector key (with the SlowFast-AVA defaults) to ``cfg`` in place; return it.

    The composition of the per-concept functions above, in this order.
    """
    add_video_model_config(cfg)
    add_slowfast_config(cfg)
    add_action_head_config(cfg)
    add_cls_head_config(cfg)
    add_clip_input_config(cfg)
    add_ava_data_config(cfg)
    add_kinetics_data_config(cfg)
    add_data_loading_config(cfg)
    add_solver_config(cfg)
    return cfg


def get_ava_cfg() -> CN:
    """A fresh Detectron2 config with ava_detector's keys added."""
    return add_ava_config(get_cfg())
