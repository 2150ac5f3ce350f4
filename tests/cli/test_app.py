import traceback

import pytest

from satsr.cli import main
from satsr.errors import InputError, SatsrError

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def test_debug_shows_traceback(runner, tmp_path, out):
    args = ["--debug", "upscale", str(tmp_path / "nothing" / "*.tif"), "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError) and isinstance(result.exception, SatsrError)
    text = "".join(traceback.format_exception(*result.exc_info))
    assert text.startswith("Traceback") and "no files match" in text
    assert "error:" not in result.output



def test_help_explains_every_option(runner):
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"satsr {name} {param.opts} has no help"
                assert param.opts[-1] in result.output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and "--debug" in result.output and "upscale" in result.output


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("satsr ")

