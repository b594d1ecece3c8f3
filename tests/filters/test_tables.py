"""Table rows from trafilatura become plain lines (filters/tables.py)."""

from hypothesis import given
from hypothesis import strategies as st

from curate.filters.tables import plain_row, plain_table_rows


def test_layout_table_row_keeps_the_cell_text():
    assert plain_row("|  | A long paragraph of article text. |  | ") == "A long paragraph of article text."


def test_data_row_keeps_cells_tab_separated():
    assert plain_row("| 10 Yr Bd | 4.60 |  | -0.02 | ") == "10 Yr Bd\t4.60\t-0.02"


def test_empty_and_separator_rows_are_dropped_other_lines_kept():
    text = "Title\n|  |  |\n| a | b |\n|---|:--:|\nA normal line, with a pipe | inside."
    assert plain_table_rows(text) == "Title\na\tb\nA normal line, with a pipe | inside."


def test_trafilatura_1x_style_rows():
    assert plain_table_rows("Price | 4.60 |\nend") == "Price\t4.60\nend"


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="|\n\r"), max_size=20), max_size=8))
def test_text_without_pipes_is_untouched(lines):
    text = "\n".join(lines)
    assert plain_table_rows(text) == text


@given(st.lists(st.text(alphabet="ab .,", max_size=12), min_size=1, max_size=6))
def test_no_cell_text_is_lost(cells):
    row = "| " + " | ".join(cells) + " |"
    assert [c for c in plain_row(row).split("\t") if c] == [c.strip() for c in cells if c.strip()]
