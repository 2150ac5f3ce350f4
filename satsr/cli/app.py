"""The ``satsr`` click group: global options, and errors printed as one line instead of a traceback."""

from __future__ import annotations

from typing import Any

import click
from rasterio.errors import RasterioError

from satsr._version import package_version
from satsr.errors import SatsrError

__all__ = ["SatsrGroup", "main", "one_line"]

_DEBUG_KEY = "satsr.debug"


def one_line(err: BaseException | Warning | str) -> str:
    """Collapse an error (or warning) message onto one line; the type name when it has no text.

    Parameters
    ----------
    err : BaseException, Warning or str
        The error or message.

    Returns
    -------
    str
        The message's non-blank lines joined by spaces.
    """
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


class SatsrGroup(click.Group):
    """Click group that turns satsr, rasterio and OS errors into ``error: <message>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; print a satsr, rasterio or OS error as one line unless ``--debug``."""
        try:
            return super().invoke(ctx)
        except (SatsrError, RasterioError, OSError) as err:
            if ctx.meta.get(_DEBUG_KEY):
                raise
            click.echo(f"error: {one_line(err)}", err=True)
            ctx.exit(1)


@click.group(cls=SatsrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_version(), "--version", "-V", prog_name="satsr", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line error messages.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines; warnings and errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Log more (DEBUG level).")
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool, verbose: bool) -> None:
    """Super-resolve georeferenced satellite imagery and video frames, keeping the georeferencing exact.

    Run 'satsr COMMAND --help' for the options of each command. Long commands show a progress bar on a terminal
    and plain 'satsr: ...' log lines otherwise (SATSR_PROGRESS=bar|log|off overrides).
    """
    from satsr.progress import configure

    ctx.meta[_DEBUG_KEY] = debug
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    configure("off" if quiet else "auto", verbose=verbose)
