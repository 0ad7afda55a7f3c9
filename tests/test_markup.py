"""Slack markup is removed before scoring; the words themselves are kept."""

from __future__ import annotations

import pytest

from bot.core.markup import clean


@pytest.mark.parametrize("raw, expected", [
    ("<@U024BE7LH> enable versioning", "enable versioning"),
    ("see <#C024BE7LR|ml-study> for more", "see for more"),
    ("<!here> use KMS", "use KMS"),
    ("read <https://docs.aws.amazon.com/s3/|the S3 docs> first", "read the S3 docs first"),
    ("bare link <https://example.com/page> here", "bare link here"),
    ("*encrypt* the _bucket_ and ~never~ share keys", "encrypt the bucket and never share keys"),
    ("use `aws s3 cp` to copy", "use aws s3 cp to copy"),
    ("```\naws kms create-key\n```\nthen rotate it", "aws kms create-key\nthen rotate it"),
    ("great :tada: question :+1::skin-tone-2:", "great question"),
    ("&gt; quoted line\nmy answer", "quoted line\nmy answer"),
    ("- first point\n- second point", "first point\nsecond point"),
    ("1. shard the data\n2) train", "shard the data\ntrain"),
    ("A &amp; B &lt;tag&gt;", "A & B <tag>"),
    ("snake_case_name and 2*3*4 stay", "snake_case_name and 2*3*4 stay"),
    ("   \n\t  ", ""),
    (":smile: <@U1>", ""),
])
def test_slack_markup_is_removed(raw, expected):
    assert clean(raw) == expected


def test_clean_accepts_none_like_empty_text():
    assert clean("") == ""
