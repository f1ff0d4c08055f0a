"""Every `levwatch` argument gets a clear one-line error and exit code 2, never a traceback, and nothing runs."""

import pytest

from pipelines.cli import main
from tests.unit.test_warehouse import build_with_a_lake_view

BAD_ARGUMENTS = [
    (["record", "options", "--start", "../../etc", "--end", "2025-10-12"], "argument --start: expected a day as YYYY-MM-DD, got '../../etc'"),
    (["record", "options", "--start", "2025-10-10", "--end", "2025-13-01"], "argument --end: expected a day"),
    (["record", "options", "--start", "2025-10-10", "--end", "2025-10-12", "--step-minutes", "0"], "argument --step-minutes: expected a whole number > 0"),
    (["record", "options", "--start", "2025-10-10", "--end", "2025-10-12", "--step-minutes", "1e3"], "argument --step-minutes: expected a whole number > 0, got '1e3'"),
    (["record", "options", "--start", "2025-10-10", "--end", "2025-10-12", "--first-hour", "24"], "argument --first-hour: expected an hour 0-23"),
    (["record", "liquidations", "--flush-seconds", "nan"], "argument --flush-seconds: expected a number > 0"),
    (["record", "liquidations", "--flush-seconds", "-1"], "argument --flush-seconds: expected a number > 0"),
    (["record", "liquidations", "--until-ms", "soon"], "argument --until-ms: expected a whole number >= 0"),
    (["sandbox", "serve", "--port", "70000"], "argument --port: expected a TCP port 0-65535"),
    (["sandbox", "serve", "--scenario", "/no/such/scenario.yaml"], "argument --scenario: '/no/such/scenario.yaml' does not exist"),
    (["demo", "--scenario", "/"], "argument --scenario: '/' is a directory"),
    (["sql", "  "], "argument query: must not be empty"),
    (["sql", "select 1", "--max-rows", "-5"], "argument --max-rows: expected a whole number > 0"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_a_bad_argument_is_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LEVWATCH_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_an_end_before_the_start_is_refused_before_anything_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LEVWATCH_HOME", str(tmp_path))
    monkeypatch.setenv("LEVWATCH_SOURCE", "sandbox")
    monkeypatch.setenv("LEVWATCH_SANDBOX_URL", "http://127.0.0.1:9")  # never contacted
    code = main(["record", "options", "--start", "2025-10-12", "--end", "2025-10-10"])
    assert code == 2
    assert "--end 2025-10-10 is before --start 2025-10-12" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_environment_or_a_missing_warehouse_is_one_clear_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LEVWATCH_HOME", str(tmp_path))
    monkeypatch.setenv("LEVWATCH_HTTP_TIMEOUT_S", "ten")
    assert main(["sql", "select 1"]) == 2
    assert "LEVWATCH_HTTP_TIMEOUT_S must be a number, got 'ten'" in capsys.readouterr().err
    monkeypatch.delenv("LEVWATCH_HTTP_TIMEOUT_S")
    assert main(["report"]) == 2
    assert "no published warehouse" in capsys.readouterr().err
    assert main(["summary"]) == 2
    assert "no published warehouse" in capsys.readouterr().err


def test_sql_that_would_write_is_refused_and_a_sql_error_is_one_line(capsys, tmp_path, monkeypatch):
    lake_file = build_with_a_lake_view(tmp_path)
    monkeypatch.setenv("LEVWATCH_HOME", str(tmp_path))
    assert main(["sql", f"copy (select 1) to '{lake_file}'"]) == 1
    assert "only queries (SELECT, EXPLAIN)" in capsys.readouterr().err
    assert main(["sql", "select * from read_csv('/etc/passwd')"]) == 1
    assert "disabled by configuration" in capsys.readouterr().err
    assert main(["sql", "select nope from marts.t"]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err
    assert main(["sql", "select asset from staging.stg_funding"]) == 0
    assert "BTC" in capsys.readouterr().out
