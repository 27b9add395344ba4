"""`rules check --transcript` reads SRT and WebVTT subtitles as Whisper, ffmpeg and caption tools write them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.rules.examples import EXAMPLE_START
from livewatch.subtitles import SubtitleError, read_cues, subtitle_format

# `whisper --output_format srt`: numbered cues, hh:mm:ss,mmm; a long segment wrapped over two lines.
WHISPER_SRT = """\
1
00:00:00,000 --> 00:00:04,200
Hi everyone, welcome back to the channel.

2
00:01:05,500 --> 00:01:11,040
This stock will double by Friday,
guaranteed returns for everyone who joins.

3
00:01:11,040 --> 00:01:14,000
Thanks for watching.
"""

# A Mandarin caption file as a captioning tool writes it: metadata in the header, NOTE/STYLE/REGION blocks,
# cue identifiers and settings, voice and class spans, karaoke timestamps, entities, a wrapped line.
CHINESE_VTT = """\
WEBVTT - 直播字幕
Kind: captions
Language: zh-CN

STYLE
::cue(.yellow) { color: yellow; }

REGION
id:bottom
width:40%

NOTE 主持人口播，未审核

intro
00:03.000 --> 00:06.500 align:start position:10%
<v 主持人>大家好，欢迎来到直播间&nbsp;！</v>

cue-2
01:02.000 --> 01:07.250 region:bottom line:85%
<v.host 主持人><c.yellow>想要资料的</c>，<00:01:03.500>大家加我
<00:01:05.000>微信，R&amp;D 同事在线</v>

01:07.250 --> 01:09.000
谢谢大家
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _check(runner: CliRunner, path: Path) -> list[dict[str, str]]:
    result = runner.invoke(cli, ["rules", "check", "--json", "--transcript", str(path)])
    assert result.exit_code == 0, result.output
    findings: list[dict[str, str]] = json.loads(result.output)["findings"]
    return findings


def _offset(stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - EXAMPLE_START).total_seconds()


def test_whisper_srt_finds_the_promise_at_its_cue_time(runner: CliRunner, tmp_path: Path) -> None:
    srt = tmp_path / "talk.srt"
    srt.write_text(WHISPER_SRT, encoding="utf-8")
    found = _check(runner, srt)
    assert {f["category"] for f in found} == {"finance-promise"}
    # The two lines of cue 2 are one utterance, and its times are offsets from the event's start.
    assert all("will double by Friday, guaranteed returns" in f["evidence"] for f in found)
    assert all(65.5 <= _offset(f["start"]) <= _offset(f["end"]) <= 71.04 for f in found)


def test_chinese_webvtt_drops_markup_and_joins_wrapped_lines(runner: CliRunner, tmp_path: Path) -> None:
    vtt = tmp_path / "live.vtt"
    vtt.write_text(CHINESE_VTT, encoding="utf-8")
    cues = read_cues(vtt, CHINESE_VTT, "vtt")
    assert [(c.start, c.end, c.text) for c in cues] == [
        (3.0, 6.5, "大家好，欢迎来到直播间 ！"),
        (62.0, 67.25, "想要资料的，大家加我微信，R&D 同事在线"),
        (67.25, 69.0, "谢谢大家"),
    ]
    assert [c.line for c in cues] == [15, 19, 23]  # the timing lines
    found = _check(runner, vtt)
    assert "traffic-diversion" in {f["category"] for f in found}
    assert all(62.0 <= _offset(f["start"]) <= 67.25 for f in found if f["category"] == "traffic-diversion")


def test_ffmpeg_srt_with_bom_crlf_styling_and_hours(runner: CliRunner, tmp_path: Path) -> None:
    # ffmpeg converting ASS or mov_text captions: BOM, CRLF, <font>/<i> tags and {\an8} overrides kept.
    content = ("\ufeff1\r\n01:00:02,000 --> 01:00:05,120\r\n{\\an8}<font color=\"#ffff00\">Risk-free, you "
               "<i>can't</i> lose:</font>\r\nguaranteed returns &amp; 30% a month!\r\n\r\n")
    srt = tmp_path / "ffmpeg.srt"
    srt.write_bytes(content.encode("utf-8"))
    [cue] = read_cues(srt, srt.read_text(encoding="utf-8"), "srt")
    assert (cue.start, cue.end) == (3602.0, 3605.12)
    assert cue.text == "Risk-free, you can't lose: guaranteed returns & 30% a month!"
    found = _check(runner, srt)
    assert found
    assert {f["category"] for f in found} == {"finance-promise"}
    assert all(_offset(f["start"]) >= 3602.0 for f in found)


def test_the_format_comes_from_the_content_before_the_extension(tmp_path: Path) -> None:
    assert subtitle_format(tmp_path / "a.txt", WHISPER_SRT) == "srt"
    assert subtitle_format(tmp_path / "a.txt", CHINESE_VTT) == "vtt"
    assert subtitle_format(tmp_path / "a.srt", "\ufeffWEBVTT\n\n00:01.000 --> 00:02.000\nhi\n") == "vtt"
    assert subtitle_format(tmp_path / "a.vtt", "") == "vtt"
    assert subtitle_format(tmp_path / "a.txt", "[00:10] 大家好\n1 --> 2\n") is None


def test_srt_content_in_a_txt_file_keeps_its_cue_times(runner: CliRunner, tmp_path: Path) -> None:
    text = tmp_path / "subtitles.txt"
    text.write_text(WHISPER_SRT, encoding="utf-8")
    found = _check(runner, text)
    assert found
    assert all(_offset(f["start"]) >= 65.5 for f in found)


def test_whisper_highlight_words_cues_are_checked_once(runner: CliRunner, tmp_path: Path) -> None:
    # `whisper --highlight_words True` repeats the segment for every word, underlining the word being said.
    words = ["Guaranteed", "returns,", "no", "risk."]
    cues = []
    for i, _ in enumerate(words):
        line = " ".join(f"<u>{w}</u>" if j == i else w for j, w in enumerate(words))
        cues.append(f"00:{10 + i:02d}.000 --> 00:{11 + i:02d}.000\n{line}\n")
    vtt = tmp_path / "highlight.vtt"
    vtt.write_text("WEBVTT\n\n" + "\n".join(cues), encoding="utf-8")
    [cue] = read_cues(vtt, vtt.read_text(encoding="utf-8"), "vtt")
    assert (cue.start, cue.end, cue.text) == (10.0, 14.0, "Guaranteed returns, no risk.")
    found = _check(runner, vtt)
    assert found
    assert len(found) == len({f["rule"] for f in found})


@pytest.mark.parametrize(("name", "content", "line", "reason"), [
    ("bad.srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 -> 00:00:04,000\nbroken\n", 6,
     "expected a cue timing"),
    ("bad.srt", "1\n00:00:05,000 --> 00:00:02,000\nbackwards\n", 2, "ends before it starts"),
    ("bad.srt", "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\nstray words\n", 5, "expected a cue timing"),
    ("bad.vtt", "00:00:01.000 --> 00:00:02.000\nno header\n", 1, "must start with 'WEBVTT'"),
    ("bad.vtt", "WEBVTT\n00:01.000 --> 00:02.000\nglued\n", 2, "blank line must separate"),
    ("bad.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n00:61.000 --> 01:02.000\nbad\n", 6, "below 60"),
    ("bad.vtt", "WEBVTT\n\nid-1\n00:01,000 --> 00:02,000\ncomma\n", 4, "expected a cue timing"),
])
def test_a_broken_subtitle_file_is_refused_with_its_line(runner: CliRunner, tmp_path: Path, name: str,
                                                         content: str, line: int, reason: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    kind = subtitle_format(path, content)
    assert kind is not None
    with pytest.raises(SubtitleError) as raised:
        read_cues(path, content, kind)
    assert raised.value.line == line
    result = runner.invoke(cli, ["rules", "check", "--transcript", str(path)])
    assert result.exit_code != 0
    assert f"error: {path}, line {line}: " in result.output
    assert reason in result.output


def test_an_empty_subtitle_file_has_no_findings(runner: CliRunner, tmp_path: Path) -> None:
    vtt = tmp_path / "empty.vtt"
    vtt.write_text("WEBVTT\n\nNOTE nothing was said\n", encoding="utf-8")
    assert _check(runner, vtt) == []
