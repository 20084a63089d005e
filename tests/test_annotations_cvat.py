"""CVAT for video 1.1 import: start_frame + step, outside in the middle of a track, interpolated and
sparse frames, attributes and labels as actions, skip tags, and errors naming file and line."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ava_detector.ava.annotations.ava_writer import build_ava_tables
from ava_detector.ava.annotations.cvat import parse_cvat_video
from ava_detector.ava.annotations.mapping import ActionMapping
from ava_detector.ava.annotations.tracks import box_at
from ava_detector.data.errors import InputFileError

META = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id>
      <name>clip a</name>
      <size>{size}</size>
      <mode>interpolation</mode>
      <start_frame>{start}</start_frame>
      <stop_frame>{stop}</stop_frame>
      <frame_filter>{filt}</frame_filter>
      <labels>
        <label><name>person</name><attributes>
          <attribute><name>walk</name><mutable>True</mutable><input_type>checkbox</input_type><default_value>false</default_value><values>false</values></attribute>
          <attribute><name>pose</name><mutable>True</mutable><input_type>select</input_type><default_value>__undefined__</default_value><values>__undefined__
sit
stand</values></attribute>
          <attribute><name>note</name><mutable>True</mutable><input_type>text</input_type><default_value></default_value><values></values></attribute>
        </attributes></label>
        <label><name>wave</name></label>
        <label><name>car</name></label>
        <label><name>skip</name></label>
      </labels>
      <original_size><width>200</width><height>100</height></original_size>
      <source>clip_a.mp4</source>
    </task>
  </meta>
"""


# META is 28 lines: a body's first line is line 29 of the document.


def doc(body: str, size=4, start=10, stop=25, filt="step=5") -> bytes:
    return (
        META.format(size=size, start=start, stop=stop, filt=filt) + body + "</annotations>\n"
    ).encode()


def box(frame, xtl, ytl, xbr, ybr, outside=0, keyframe=1, occluded=0, attrs=""):
    return (
        f'    <box frame="{frame}" outside="{outside}" occluded="{occluded}" keyframe="{keyframe}" '
        f'xtl="{xtl}" ytl="{ytl}" xbr="{xbr}" ybr="{ybr}" z_order="0">{attrs}</box>\n'
    )


def attrs(walk="false", pose="__undefined__", note=""):
    return (
        f'<attribute name="walk">{walk}</attribute><attribute name="pose">{pose}</attribute>'
        f'<attribute name="note">{note}</attribute>'
    )


STEP_TRACK = (
    '  <track id="3" label="person" source="manual">\n'
    + box(0, 20, 10, 60, 90, attrs=attrs("true", "stand", "tall"))
    + box(1, 40, 10, 80, 90, keyframe=0, occluded=1, attrs=attrs("false", "sit"))
    + box(2, 40, 10, 80, 90, outside=1, attrs=attrs())
    + box(3, 0, 0, 100, 50, attrs=attrs("true"))
    + "  </track>\n"
    + '  <track id="4" label="car" source="manual">\n'
    + box(0, 0, 0, 10, 10)
    + "  </track>\n"
    + '  <tag frame="3" label="skip" source="manual"></tag>\n'
    + '  <polygon label="person" points="1,2;3,4;5,6" occluded="0" z_order="0"></polygon>\n'
)


def test_start_frame_and_step_map_annotation_frames_to_video_frames():
    r = parse_cvat_video(doc(STEP_TRACK), "a.xml", fps=10)
    (v,) = r.videos
    assert v.video_id == "clip_a" and (v.width, v.height) == (200, 100)
    assert v.annotated == (10, 25) and v.num_frames == 26
    (t,) = v.tracks
    assert t.track_id == 3
    # annotation frames 0, 1 -> video frames 10, 15 (one span); 2 is outside; 3 -> 25 (a new span)
    assert [[fb.frame for fb in s] for s in t.spans] == [[10, 15], [25]]
    first, second = t.spans[0]
    assert first.box == (0.1, 0.1, 0.3, 0.9) and first.actions == {"walk", "stand"}
    assert second.box == (0.2, 0.1, 0.4, 0.9) and second.actions == {"sit"}
    assert second.occluded and not second.keyframe and first.keyframe
    assert t.spans[1][0].actions == {"walk"}  # "__undefined__" is no action
    assert r.ignored == {
        "tracks of label 'car'": 1,
        "tags of label 'skip'": 1,
        "polygon shapes outside tracks": 1,
    }
    assert v.skip_frames == frozenset()


def test_frames_between_step_frames_are_interpolated_and_spans_end_at_outside():
    (v,) = parse_cvat_video(doc(STEP_TRACK), "a.xml", fps=10).videos
    (t,) = v.tracks
    fb = box_at(t, 12)  # 2/5 of the way from video frame 10 to 15
    assert fb.box == pytest.approx((0.14, 0.1, 0.34, 0.9))
    assert fb.actions == {"walk", "stand"} and not fb.keyframe
    assert box_at(t, 16) is None and box_at(t, 20) is None and box_at(t, 9) is None
    assert box_at(t, 25).box == (0.0, 0.0, 0.5, 0.5)


def test_keyframe_rows_with_skip_tag_and_fractional_rate():
    mapping = ActionMapping(skip="skip")
    r = parse_cvat_video(doc(STEP_TRACK), "a.xml", fps=10, mapping=mapping)
    assert r.videos[0].skip_frames == {25}
    tables = build_ava_tables(r.videos, Fraction(2))
    assert tables.classes == ["sit", "stand", "walk"]
    assert tables.rows["clip_a"] == [
        "clip_a,0001,0.1000,0.1000,0.3000,0.9000,2,3",
        "clip_a,0001,0.1000,0.1000,0.3000,0.9000,3,3",
        "clip_a,0001.5,0.2000,0.1000,0.4000,0.9000,1,3",
        "clip_a,0002",  # annotated keyframe, nobody visible (outside)
    ]
    assert tables.exclusions["clip_a"] == ["clip_a,0002.5"]


def test_outside_in_the_middle_of_a_track_every_frame_listed():
    body = (
        '  <track id="0" label="person">\n'
        + box(0, 0, 0, 100, 100, attrs=attrs("true"))
        + box(1, 10, 0, 110, 100, attrs=attrs("true"))
        + box(2, 10, 0, 110, 100, outside=1)
        + box(3, 10, 0, 110, 100, outside=1)
        + box(4, 100, 0, 200, 100, attrs=attrs("true"))
        + box(5, 100, 0, 200, 50, attrs=attrs("true"))
        + "  </track>\n"
    )
    (v,) = parse_cvat_video(doc(body, size=6, start=0, stop=5, filt=""), "b.xml", fps=1).videos
    (t,) = v.tracks
    assert [[fb.frame for fb in s] for s in t.spans] == [[0, 1], [4, 5]]
    assert box_at(t, 2) is None and box_at(t, 3) is None
    assert box_at(t, 5).box == (0.5, 0.0, 1.0, 0.5)
    rows = build_ava_tables([v], Fraction(1)).rows["clip_a"]
    assert rows == [
        "clip_a,0000,0.0000,0.0000,0.5000,1.0000,1,0",
        "clip_a,0001,0.0500,0.0000,0.5500,1.0000,1,0",
        "clip_a,0002",
        "clip_a,0003",
        "clip_a,0004,0.5000,0.0000,1.0000,1.0000,1,0",
        "clip_a,0005,0.5000,0.0000,1.0000,0.5000,1,0",
    ]


def test_sparse_keyframes_are_interpolated_linearly():
    body = (
        '  <track id="1" label="person">\n'
        + box(0, 0, 0, 20, 10, attrs=attrs("true"))
        + box(10, 100, 50, 140, 90, attrs=attrs("true"))
        + box(11, 0, 0, 1, 1, outside=1)
        + "  </track>\n"
    )
    (v,) = parse_cvat_video(doc(body, size=20, start=0, stop=19, filt=""), "c.xml", fps=5).videos
    fb = box_at(v.tracks[0], 5)  # half way: (50, 25, 80, 50) px
    assert fb.box == pytest.approx((0.25, 0.25, 0.4, 0.5))


def test_checkbox_skip_attribute_and_restricted_attribute_mapping():
    body = (
        '  <track id="2" label="person">\n'
        + box(
            0,
            0,
            0,
            20,
            10,
            attrs='<attribute name="walk">true</attribute><attribute name="pose">sit</attribute>'
            '<attribute name="bad_frame">true</attribute>',
        )
        + box(
            1,
            0,
            0,
            20,
            10,
            attrs='<attribute name="walk">true</attribute><attribute name="pose">stand</attribute>'
            '<attribute name="bad_frame">false</attribute>',
        )
        + "  </track>\n"
    )
    mapping = ActionMapping(
        skip="bad_frame", attributes={"walk": "walking", "pose": {"sit": "sitting"}}
    )
    (v,) = parse_cvat_video(
        doc(body, size=2, start=0, stop=1, filt=""), "d.xml", fps=1, mapping=mapping
    ).videos
    a, b = v.tracks[0].spans[0]
    assert a.actions == {"walking", "sitting"} and b.actions == {"walking"}
    assert v.skip_frames == {0}


def test_actions_as_labels_of_their_own_tracks():
    body = (
        '  <track id="1" label="person">\n'
        + box(0, 0, 0, 100, 100)
        + box(1, 0, 0, 100, 100)
        + "  </track>\n"
        '  <track id="9" label="wave">\n'
        + box(0, 10, 0, 100, 100)  # IoU 0.9 with person 1
        + box(1, 150, 0, 200, 100)  # overlaps nobody: a person of its own
        + "  </track>\n"
    )
    mapping = ActionMapping(actions_from="labels")
    r = parse_cvat_video(
        doc(body, size=2, start=0, stop=1, filt=""), "e.xml", fps=1, mapping=mapping
    )
    (v,) = r.videos
    assert [t.track_id for t in v.tracks] == [1, 9]
    p1, p9 = v.tracks
    assert [fb.actions for fb in p1.spans[0]] == [{"wave"}, frozenset()]
    assert p9.spans == ((type(p9.spans[0][0])(1, (0.75, 0.0, 1.0, 1.0), frozenset({"wave"})),),)
    assert r.ignored == {}


@pytest.mark.parametrize(
    "body, line, message",
    [
        (
            '  <track id="1" label="person">\n' + box(0, 50, 0, 40, 10) + "  </track>\n",
            30,
            "<box> needs xtl < xbr and ytl < ybr, got 50,0,40,10",
        ),
        (
            '  <track id="1" label="person">\n' + box("x", 0, 0, 40, 10) + "  </track>\n",
            30,
            "<box> frame='x' is not an integer",
        ),
        (
            '  <track id="1" label="person">\n' + box(4, 0, 0, 40, 10) + "  </track>\n",
            30,
            "<box> frame 4 outside the task's frames 0..3",
        ),
        (
            '  <track id="1" label="person">\n' + box(0, 0, "a", 40, 10) + "  </track>\n",
            30,
            "<box> ytl='a' is not a number",
        ),
        (
            '  <track id="1" label="person">\n' + box(0, 0, 0, 40, 10, outside=2) + "  </track>\n",
            30,
            "<box> outside='2' must be 0 or 1",
        ),
        (
            '  <track label="person">\n' + box(0, 0, 0, 40, 10) + "  </track>\n",
            29,
            "<track> needs the attribute 'id'",
        ),
        ('  <track id="1" label="person">\n  <box frame="0"\n', 31, "malformed XML"),
    ],
)
def test_errors_name_the_file_and_the_line(body, line, message):
    with pytest.raises(InputFileError) as e:
        parse_cvat_video(doc(body), "/data/task.xml", fps=10)
    assert str(e.value).startswith(f"/data/task.xml:{line}: ")
    assert message in str(e.value)


def test_frame_filter_and_meta_errors():
    with pytest.raises(InputFileError, match=r"^f.xml:12: <frame_filter> frame_filter 'every=2'"):
        parse_cvat_video(doc("", filt="every=2"), "f.xml", fps=10)
    with pytest.raises(InputFileError, match=r"^f.xml: CVAT exports do not record the frame rate"):
        parse_cvat_video(doc(""), "f.xml", fps=None)
    images = b'<annotations><version>1.1</version><meta><task></task></meta>\n<image id="0"/></annotations>'
    with pytest.raises(
        InputFileError, match=r"^g.xml:2: <image> belongs to a 'CVAT for images' export"
    ):
        parse_cvat_video(images, "g.xml", fps=10)


def test_doctype_and_entities_are_refused_before_expansion():
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;">]>\n'
        b"<annotations>&y;</annotations>"
    )
    with pytest.raises(InputFileError, match=r"^h.xml:2: DOCTYPE declarations are not accepted"):
        parse_cvat_video(bomb, "h.xml", fps=10)


def test_video_id_from_meta_source_or_task_name():
    base = doc("").decode()
    in_meta = base.replace("      <source>clip_a.mp4</source>\n", "").replace(
        "  </meta>", "    <source>uploads/Game 2.MP4</source>\n  </meta>"
    )
    assert parse_cvat_video(in_meta.encode(), "x.xml", fps=1).videos[0].video_id == "Game_2"
    no_source = base.replace("      <source>clip_a.mp4</source>\n", "")
    assert parse_cvat_video(no_source.encode(), "x.xml", fps=1).videos[0].video_id == "clip_a"
    assert (
        parse_cvat_video(no_source.encode(), "x.xml", fps=1, video_id="v7").videos[0].video_id
        == "v7"
    )


def test_immutable_attributes_are_not_actions_unless_mapped():
    base = (
        doc("")
        .decode()
        .replace(
            "<attribute><name>note</name><mutable>True</mutable><input_type>text</input_type>",
            "<attribute><name>team</name><mutable>False</mutable><input_type>select</input_type>",
        )
    )
    body = (
        '  <track id="1" label="person">\n'
        + box(
            0,
            0,
            0,
            20,
            10,
            attrs='<attribute name="team">red</attribute><attribute name="walk">true</attribute>',
        )
        + "  </track>\n"
    )
    data = base.replace("</annotations>\n", body + "</annotations>\n").encode()
    (v,) = parse_cvat_video(data, "i.xml", fps=1).videos
    assert v.tracks[0].spans[0][0].actions == {"walk"}
    mapping = ActionMapping(attributes={"team": {"red": "in red"}})
    (v,) = parse_cvat_video(data, "i.xml", fps=1, mapping=mapping).videos
    assert v.tracks[0].spans[0][0].actions == {"in red"}
