"""``livewatch alerts test`` reports which targets a test alert reached; ``alerts list`` shows the outbox."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.alerts.outbox import Outbox
from livewatch.alerts.routing import Route
from livewatch.cli import cli
from livewatch.state import Database, DataDir
from tests.alerts.conftest import SECRET, alert
from tests.support.webhook import WebhookReceiver


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "livewatch.toml"
    path.write_text(f'data_dir = "data"\n{body}', encoding="utf-8")
    return path


def test_alerts_test_reports_each_target(tmp_path: Path, receiver: WebhookReceiver,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEWATCH_WEBHOOK_SECRET", SECRET)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    path = config(tmp_path, f'''
[[alerts]]
name = "hook"
type = "webhook"
url = "{receiver.url}"

[[alerts]]
name = "dead-hook"
type = "webhook"
url = "http://127.0.0.1:{dead}/x"

[[alerts]]
name = "journal"
type = "log"
''')
    result = CliRunner().invoke(cli, ["--config", str(path), "alerts", "test"])
    assert result.exit_code == 1, result.output
    assert "2 of 3 target(s) reached" in result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│")}
    assert "delivered" in lines["hook"]
    assert "delivered" in lines["journal"]
    assert "FAILED" in lines["dead-hook"]
    assert "cannot reach" in result.output
    [got] = receiver.received
    assert got.signature_ok
    assert got.payload["kind"] == "test"
    assert got.payload["event"] is None
    ok = CliRunner().invoke(cli, ["--config", str(path), "alerts", "test", "--target", "hook"])
    assert ok.exit_code == 0
    assert "1 of 1 target(s) reached" in ok.output
    unknown = CliRunner().invoke(cli, ["--config", str(path), "alerts", "test", "--target", "pager"])
    assert unknown.exit_code == 2
    assert "no alert target named 'pager'" in unknown.output


def test_alerts_test_without_targets(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config(tmp_path, "")), "alerts", "test"])
    assert result.exit_code == 2
    assert "no alert targets are configured" in result.output


def test_alerts_list(tmp_path: Path) -> None:
    path = config(tmp_path, "")
    with Database.open(DataDir(tmp_path / "data")) as db:
        Outbox(db.engine).add(alert(), [Route("hook", 0)], alert().at)
    result = CliRunner().invoke(cli, ["--config", str(path), "alerts", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert "no alert targets are configured" in result.stderr  # the outbox holds one, but none would be sent
    assert (row["key"], row["target"], row["status"], row["payload"]["matched"]) == (
        "finding|a1", "hook", "pending", "稳赚不赔")
    table = CliRunner().invoke(cli, ["--config", str(path), "alerts", "list", "--status", "sent"])
    assert table.exit_code == 0
    assert "0 alert deliveries" in table.output
