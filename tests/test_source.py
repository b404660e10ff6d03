import pytest

from dlbook.source import show_source
from dlbook.train import evaluate


def test_show_source_prints_code_in_a_script(capsys):
    assert show_source(evaluate) is None
    assert "def evaluate(" in capsys.readouterr().out


def test_show_source_rejects_builtins():
    with pytest.raises(TypeError, match="Python function"):
        show_source(len)


@pytest.mark.parametrize("bad", [42, "evaluate", None])
def test_show_source_rejects_objects_without_source(bad):
    with pytest.raises(TypeError, match="Python function, method or class"):
        show_source(bad)
