import pytest

from objects.names import InvalidObjectName, successor, validate_object_name


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "photos/2024/cat.png",
        "../x",
        "/etc/passwd",
        "a//b",
        "with space + plus ? # % .txt",
        "ünïcødé/日本語/😀",
        "x" * 1024,
        "é" * 512,  # 1024 bytes of UTF-8
        "folder/",
        "...",
        "a/./b",
    ],
)
def test_it_accepts_what_gcs_accepts(name):
    assert validate_object_name(name) == name


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "empty"),
        ("x" * 1025, "too_long"),
        ("é" * 513, "too_long"),  # 513 characters but 1026 bytes
        ("a\nb", "newline"),
        ("a\rb", "newline"),
        ("a\x00b", "nul"),
        (".", "dots"),
        ("..", "dots"),
        (".well-known/acme-challenge/x", "reserved"),
        ("\ud800", "encoding"),
    ],
)
def test_it_refuses_invalid_names_with_a_reason(name, code):
    with pytest.raises(InvalidObjectName) as excinfo:
        validate_object_name(name)
    assert excinfo.value.code == code
    assert excinfo.value.messages[0]


def test_successor_bounds_exactly_the_names_under_a_prefix():
    upper = successor("photos/2024/")
    assert upper == "photos/20240"
    assert "photos/2024/zzz" < upper
    assert "photos/2024-old/a" < "photos/2024/"  # '-' sorts before '/'
    assert not ("photos/2024/" <= "photos/2024-old/a" < upper)


def test_successor_skips_surrogates_and_handles_the_top():
    assert successor("a\ud7ff") == "a\ue000"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
