import re

import usher


def test_version_is_the_workspace_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", usher.version())
    assert usher.version() == usher.__version__


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("usher").joinpath("py.typed").is_file()
    assert files("usher").joinpath("_native.pyi").is_file()
