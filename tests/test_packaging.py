"""The wheel carries the top-level templates/ and an installed livewatch finds them at run time."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        check=True,
    )
    [built] = dist.glob("livewatch-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (REPO / "templates").glob("*.html")}
    assert templates, "templates/ is empty"
    for name in templates:
        assert f"livewatch/templates/{name}" in names
    assert "transcribers/__init__.py" in names
    assert "livewatch/py.typed" in names
    # The pages' catalogs are read from the .po at run time (livewatch/i18n.py): text only, no .mo.
    assert "livewatch/locale/zh_CN/LC_MESSAGES/livewatch.po" in names
    assert not any(name.endswith(".mo") for name in names)
    # Alembic reads its environment and revisions from the installed package at run time.
    for migration_file in ("env.py", "versions/v0001_initial.py", "versions/v0002_alerts.py",
                           "versions/v0003_screen.py"):
        assert f"livewatch/state/migrations/{migration_file}" in names
    assert not any(name.startswith(("tests/", "schedules/")) for name in names)
    metadata = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "livewatch = livewatch.cli:main" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_installed_wheel_renders_from_its_own_templates(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    probe = (
        "import livewatch, datetime\n"
        "from livewatch.templating import builtin_templates_dir, make_environment, render\n"
        "from livewatch.reports.schedule_view import schedule_context\n"
        "now = datetime.datetime.now(datetime.UTC)\n"
        "html = render(make_environment(), 'schedule.html', schedule_context([], [], now))\n"
        "zh = render(make_environment(language='zh-CN'), 'schedule.html', schedule_context([], [], now))\n"
        "print(livewatch.__file__)\n"
        "print(builtin_templates_dir())\n"
        "print('<table id=\"schedule\">' in html)\n"
        "print('已登记活动' in zh)\n"
    )
    # PYTHONPATH puts the installed copy ahead of the editable checkout; the working directory is elsewhere.
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1] == str(site / "livewatch" / "templates")
    assert out[2] == "True"
    assert out[3] == "True", "the installed wheel reads its Chinese catalog"
