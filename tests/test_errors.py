"""Errors as a tag or a job record shows them: one clean line."""

from __future__ import annotations

from hydra.errors import InstantiationException

from augsweep.errors import first_line


def test_first_line_names_the_error_type():
    assert first_line(ValueError("bad value\nmore detail")) == "ValueError: bad value"
    assert first_line(KeyError()) == "KeyError"


def test_first_line_strips_terminal_color_codes():
    error = ValueError("\x1b[1mbold\x1b[0m and \x1b[31;1mred\x1b[0m\n\x1b[2mdetail\x1b[0m")
    assert first_line(error) == "ValueError: bold and red"


def test_first_line_unwraps_hydra_instantiation_errors():
    try:
        raise InstantiationException("Error in call to target 'x'") from TypeError("no factor")
    except InstantiationException as error:
        assert first_line(error) == "TypeError: no factor"
