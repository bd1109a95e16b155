import pytest

from objects.api.fields import InvalidFields, apply, parse

RESOURCE = {
    "kind": "storage#objects",
    "items": [{"name": "a", "size": "1", "metadata": {"k": "v", "x": "y"}}, {"name": "b"}],
    "nextPageToken": "t",
}


@pytest.mark.parametrize(
    "selection, expected",
    [
        ("kind", {"kind": "storage#objects"}),
        ("items(name)", {"items": [{"name": "a"}, {"name": "b"}]}),
        (
            "items/name,nextPageToken",
            {"items": [{"name": "a"}, {"name": "b"}], "nextPageToken": "t"},
        ),
        ("items(metadata/k)", {"items": [{"metadata": {"k": "v"}}, {}]}),
        ("items(name),items(size)", {"items": [{"name": "a", "size": "1"}, {"name": "b"}]}),
        ("items,items(name)", {"items": RESOURCE["items"]}),
        ("*", RESOURCE),
        ("missing", {}),
    ],
)
def test_selections(selection, expected):
    assert apply(RESOURCE, parse(selection)) == expected


@pytest.mark.parametrize("selection", ["", "items(", "items)", "a,,b", "a/", "(" * 40 + ")" * 40])
def test_malformed_selections_are_refused(selection):
    with pytest.raises(InvalidFields):
        parse(selection)
