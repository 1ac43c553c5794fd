"""Settings are declared once: the CLI's options are the settings dataclasses' fields, with their defaults, choices and
help."""

from __future__ import annotations

import dataclasses
import typing

import pytest
import typer.main
from typer.testing import CliRunner

from app.cli import app
from app.commands.settings_options import flag
from retrieval.config import BuildConfig, SearchConfig, SettingError, choices_of


def options_of(*path: str) -> dict[str, typing.Any]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {param.name: param for param in command.params}


@pytest.mark.parametrize(
    "path, settings_type, fields",
    [
        (("build",), BuildConfig, None),
        (("search",), SearchConfig, None),
        (("eval", "beir"), SearchConfig, [f.name for f in dataclasses.fields(SearchConfig) if f.name != "rerank"]),
        (("eval", "beir"), BuildConfig, ["multivector_model", "index_type"]),
        (("eval", "mteb"), BuildConfig, ["index_type", "multivector_codec", "long_docs", "shards"]),
    ],
)
def test_every_setting_is_an_option_with_the_dataclass_default_choices_and_help(path, settings_type, fields):
    options = options_of(*path)
    hints = typing.get_type_hints(settings_type)
    for field in dataclasses.fields(settings_type):
        if (fields is not None and field.name not in fields) or "declared" in field.metadata:
            continue  # component_settings: an option per declared setting instead (tests/test_fourth_component.py)
        option = options[field.name]
        assert option.opts[0] == flag(field.name)
        if settings_type is SearchConfig:  # absent means the index's tuned setting, and the help names the fallback
            assert option.default is None and f"else {field.default}]" in option.help, field.name
        else:
            assert option.default == field.default, field.name
        assert option.help.startswith(field.metadata["help"]), field.name
        for choice in choices_of(field, hints[field.name]):
            assert str(choice) in option.help, (field.name, choice)


def test_a_bad_choice_names_the_parameter_in_python_and_the_flag_on_the_command_line():
    with pytest.raises(SettingError, match=r"^long_docs must be one of chunk, truncate, got 'split'$") as caught:
        BuildConfig(long_docs="split")
    assert (caught.value.setting, caught.value.value) == ("long_docs", "split")
    result = CliRunner().invoke(app, ["build", "corpus.jsonl", "--index", "x", "--long-docs", "split"])
    assert result.exit_code == 1
    assert "--long-docs must be one of chunk, truncate, got 'split'" in result.output


def test_a_corpus_error_names_settings_in_python_and_flags_on_the_command_line(tmp_path):
    from retrieval.config import BuildConfig as Config
    from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus

    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b'{"_id": "a", "text": "fine"}\n{"_id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(CorpusError) as caught:
        list(read_corpus(corpus, Config(), ReadStats()))
    assert "pass encoding_errors='replace'" in str(caught.value) and "--" not in str(caught.value)
    result = CliRunner().invoke(app, ["build", str(corpus), "--index", str(tmp_path / "idx"), "--model", "minilm"])
    assert result.exit_code == 1 and "pass --encoding-errors replace" in result.output
    assert not (tmp_path / "idx").exists()
