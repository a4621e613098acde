"""Recipients CSV parsing: what is accepted, and errors that name the file, line, column."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.letters.recipients import (
    Recipient,
    RecipientError,
    match_recipients,
    parse_recipients,
    read_recipients,
)


def test_accepts_bom_extra_columns_and_skips_empty_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    text = (
        "\ufeffcustomer_no,decision_id,name,address_1,address_2,address_3\n"
        '7,A-1, Ana  Lima ,"Rua 5, apto 2",,Lisboa\n'
        "\n"
        "8,A-2,\u202eknaB lilE\u202c,\u0634\u0627\u0631\u0639 1,\tCairo ,\n"
    )
    path.write_bytes(text.encode("utf-8"))
    got = read_recipients(path)
    assert got == {
        "A-1": Recipient("Ana  Lima", ("Rua 5, apto 2", "Lisboa")),
        "A-2": Recipient("\u202eknaB lilE\u202c", ("\u0634\u0627\u0631\u0639 1", "Cairo")),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("decision_id,name,address_1\n", "has no recipients"),
        ("decision_id,name,address_1,name\nA,B,C,D\n", "column(s) name twice"),
        ('decision_id,name,address_1\nA,"B\nC",x\n', "line 3, column name: control"),
        ("decision_id,name,address_1\nA,B,x\nA,C,y\n", "line 3: decision 'A' is listed twice"),
        ("decision_id,name,address_1\n,B,x\n", "line 2: no decision_id"),
    ],
)
def test_refused_with_the_place_named(text: str, message: str) -> None:
    with pytest.raises(RecipientError) as info:
        parse_recipients(text, source="to.csv")
    assert "to.csv" in str(info.value)
    assert message in str(info.value)


def test_ids_must_match_the_audit_and_the_selection() -> None:
    rec = {"A": Recipient("a", ("x",)), "B": Recipient("b", ("y",))}
    match_recipients(rec, ["A", "B", "C"], ["A"])  # unselected rows are fine
    with pytest.raises(RecipientError, match=r"decision 'B' is not in this audit"):
        match_recipients(rec, ["A", "C"], ["A"])
    read = parse_recipients("decision_id,name,address_1\nA,a,x\nB,b,y\n", source="r.csv")
    with pytest.raises(RecipientError, match=r"r\.csv, line 3: decision 'B' is not in this aud"):
        match_recipients(read, ["A", "C"], ["A"])
    with pytest.raises(RecipientError, match=r"no recipient for 1 selected decision\(s\): 'C'"):
        match_recipients(rec, ["A", "B", "C"], ["A", "C"])
    many = {f"X{i}": Recipient("n", ("a",)) for i in range(8)}
    with pytest.raises(RecipientError, match="and 3 more"):
        match_recipients(many, [], [])


def test_unterminated_right_to_left_overrides_are_closed() -> None:
    got = parse_recipients(
        "decision_id,name,address_1\nA,\u202eEve,\u2067x\u202b\u202c\n", source="t.csv"
    )
    assert got["A"] == Recipient("\u202eEve\u202c", ("\u2067x\u202b\u202c\u2069",))
