"""The synthetic scene of the generated datasets: textured "persons" whose per-second movement is an action id.

Pure and seeded (a ``numpy.random.Generator`` in, arrays out; no files). Each person owns a
vertical band of the frame (so boxes never overlap) and, every second, does one movement:

- stand (12): still; the hand rests at a random offset;
- walk (14) / run (10): horizontal translation, slow / fast, bouncing at the band's edges;
- jump/leap (7): vertical bounces (two per second);
- hand wave (69): still; the hand oscillates with a period of ``wave_period`` frames. The default
  (10) equals the Slow pathway's stride of the tiny 16x2, alpha=4 clip (Slow frames c-16, c-6, c+4,
  c+14), so the Slow frames see the hand at one phase - like stand - while the Fast pathway
  (stride 2) sees the oscillation;

plus carry/hold (17): a coloured object at the person's side, co-occurring with any movement.
Second ``k`` of the video covers frames ``[30k - fps/2, 30k + fps/2)``; its keyframe is frame ``k*fps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "MOVEMENTS",
    "CARRY_ID",
    "SceneSpec",
    "PersonTrack",
    "simulate_video",
    "render_frame",
    "make_background",
    "person_box",
]

MOVEMENTS: dict[str, int] = {"stand": 12, "walk": 14, "run": 10, "jump": 7, "wave": 69}
CARRY_ID = 17

_BOX_W, _BOX_H = (
    26,
    56,
)  # person box in pixels: head 12, body 26, legs 18; hand / object at the sides
_HEAD_R, _BODY_W, _BODY_H, _LEG_H = 6, 14, 26, 18
_HAND_AMPLITUDE = 7.0
_JUMP_HEIGHT = 10.0
_CARRY_COLOUR = (255, 220, 0)
_KEEP_CARRY = 0.6
_SPEED = {"walk": 0.5, "run": 1.6}  # pixels per frame


@dataclass(frozen=True)
class SceneSpec:
    """Size and timing of one synthetic video (``duration`` whole seconds from ``start_sec``)."""

    width: int = 160
    height: int = 120
    fps: int = 30
    start_sec: int = 100
    duration: int = 10
    persons: tuple[int, int] = (2, 3)  # inclusive range of persons per video
    wave_period: int = 10
    keep_action_prob: float = (
        0.4  # a person keeps its previous second's movement with this probability
    )
    carry_prob: float = 0.35

    @property
    def num_frames(self) -> int:
        return self.duration * self.fps

    @property
    def keyframe_seconds(self) -> list[int]:
        """Annotated seconds: all but the first and the last second of the video."""
        return list(range(self.start_sec + 1, self.start_sec + self.duration - 1))


@dataclass
class PersonTrack:
    """Per-frame state of one person and its per-second labels."""

    cx: np.ndarray  # (T,) box centre x, pixels
    top: np.ndarray  # (T,) box top y, pixels
    hand: np.ndarray  # (T,) hand offset from mid-body, pixels
    carry: np.ndarray  # (T,) bool
    movements: list[int]  # action id per second of the video
    carries: list[bool]
    colour: tuple[int, int, int]
    texture: np.ndarray = field(repr=False)  # (BODY_H, BODY_W, 3) uint8


def _second_ranges(spec: SceneSpec) -> list[tuple[int, int]]:
    half = spec.fps // 2
    return [
        (max(0, k * spec.fps - half), min(spec.num_frames, k * spec.fps + spec.fps - half))
        for k in range(spec.duration + 1)
        if k * spec.fps - half < spec.num_frames
    ]


def _texture(rng: np.random.Generator, colour: tuple[int, int, int]) -> np.ndarray:
    base = np.array(colour, np.float32)
    period = int(rng.integers(3, 6))
    rows = (np.arange(_BODY_H) // period) % 2
    tex = np.where(rows[:, None, None] == 1, base * 0.55, base)[:, None, :, :].repeat(
        _BODY_W, axis=1
    )
    tex = tex.reshape(_BODY_H, _BODY_W, 3) + rng.normal(0, 12, (_BODY_H, _BODY_W, 3))
    return np.clip(tex, 0, 255).astype(np.uint8)


def _person(
    rng: np.random.Generator, spec: SceneSpec, band: tuple[float, float], movement: str | None
) -> PersonTrack:
    T = spec.num_frames
    lo, hi = band[0] + _BOX_W / 2 + 1, band[1] - _BOX_W / 2 - 1
    cx = np.empty(T, np.float64)
    top0 = rng.uniform(_JUMP_HEIGHT + 2, spec.height - _BOX_H - 2)
    top = np.full(T, top0)
    hand = np.empty(T, np.float64)
    carry = np.zeros(T, bool)
    names = list(MOVEMENTS)
    # Markov chain keeping an object with _KEEP_CARRY, stationary share spec.carry_prob.
    start_carry = (1 - _KEEP_CARRY) * spec.carry_prob / (1 - spec.carry_prob)
    movements, carries = [], []
    x, direction, name, carrying = rng.uniform(lo, hi), rng.choice([-1.0, 1.0]), None, False
    for a, b in _second_ranges(spec):
        if movement is not None:
            name = movement
        elif name is None or rng.random() >= spec.keep_action_prob:
            name = names[int(rng.integers(len(names)))]
        if rng.random() < 0.3:
            direction = -direction
        carrying = bool(rng.random() < (_KEEP_CARRY if carrying else start_carry))
        movements.append(MOVEMENTS[name])
        carries.append(carrying)
        phase = rng.uniform(0, 2 * np.pi)
        t = np.arange(a, b)
        if name == "wave":
            hand[a:b] = _HAND_AMPLITUDE * np.sin(2 * np.pi * t / spec.wave_period + phase)
        else:
            hand[a:b] = _HAND_AMPLITUDE * np.sin(phase)
        if name == "jump":
            top[a:b] = top0 - _JUMP_HEIGHT * np.abs(np.sin(np.pi * (t - a) / (spec.fps / 2)))
        carry[a:b] = carrying
        for i in range(a, b):
            if name in _SPEED:
                x += direction * _SPEED[name]
                if not lo <= x <= hi:
                    direction = -direction
                    x = float(np.clip(x, lo, hi))
            cx[i] = x
    r, g, b = (int(c) for c in rng.integers(40, 230, 3))
    colour = (r, g, b)
    return PersonTrack(cx, top, hand, carry, movements, carries, colour, _texture(rng, colour))


def simulate_video(
    rng: np.random.Generator, spec: SceneSpec, movement: str | None = None
) -> list[PersonTrack]:
    """The persons of one video, each in its own band of the frame width (``movement``: every
    person does that one movement all the time, for classification clips)."""
    n = int(rng.integers(spec.persons[0], spec.persons[1] + 1))
    edges = np.linspace(0, spec.width, n + 1)
    return [_person(rng, spec, (edges[i], edges[i + 1]), movement) for i in range(n)]


def make_background(rng: np.random.Generator, spec: SceneSpec) -> np.ndarray:
    """A static smooth-noise background with fine grain (the camera does not move)."""
    coarse = rng.uniform(60, 200, (6, 8, 3)).astype(np.float32)
    bg = cv2.resize(coarse, (spec.width, spec.height), interpolation=cv2.INTER_CUBIC)
    bg += rng.normal(0, 3, np.shape(bg)).astype(np.float32)
    return np.clip(bg, 0, 255).astype(np.uint8)


def person_box(p: PersonTrack, t: int, spec: SceneSpec) -> np.ndarray:
    """Normalised XYXY box of person ``p`` at frame ``t``."""
    x1, y1 = p.cx[t] - _BOX_W / 2, p.top[t]
    box = np.array(
        [x1 / spec.width, y1 / spec.height, (x1 + _BOX_W) / spec.width, (y1 + _BOX_H) / spec.height]
    )
    return np.clip(box, 0.0, 1.0)


def render_frame(background: np.ndarray, persons: list[PersonTrack], t: int) -> np.ndarray:
    """RGB frame ``t``: the background with every person drawn at its state."""
    img = background.copy()
    for p in persons:
        cx, top = int(round(p.cx[t])), int(round(p.top[t]))
        head_c = (cx, top + _HEAD_R)
        body_top = top + 2 * _HEAD_R
        bx = cx - _BODY_W // 2
        img[body_top : body_top + _BODY_H, bx : bx + _BODY_W] = p.texture
        leg_top = body_top + _BODY_H
        dark = tuple(int(c * 0.4) for c in p.colour)
        cv2.rectangle(img, (bx + 1, leg_top), (bx + 4, leg_top + _LEG_H - 1), dark, -1)
        cv2.rectangle(
            img, (bx + _BODY_W - 5, leg_top), (bx + _BODY_W - 2, leg_top + _LEG_H - 1), dark, -1
        )
        cv2.circle(img, head_c, _HEAD_R, (230, 190, 160), -1, cv2.LINE_AA)
        hand_y = body_top + _BODY_H // 2 + p.hand[t]
        cv2.circle(
            img, (cx + _BODY_W // 2 + 3, int(round(hand_y))), 3, (250, 200, 170), -1, cv2.LINE_AA
        )
        if p.carry[t]:
            ox = cx - _BODY_W // 2 - 3
            oy = body_top + _BODY_H // 2
            cv2.rectangle(img, (ox - 3, oy - 4), (ox + 3, oy + 4), _CARRY_COLOUR, -1)
    return img
