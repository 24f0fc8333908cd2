"""The `jiaoying` command, run as an operator would: migrate, built-in regions, a roster, keys, and
clear refusals with non-zero exit codes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def jiaoying(database: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIAOYING_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "cli.db"
    migrated = jiaoying(path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return path


def test_builtin_regions_load_a_county_with_everything_above_it(database: Path) -> None:
    loaded = jiaoying(database, "regions", "import", "--builtin", "650107")
    assert loaded.returncode == 0, loaded.stderr
    assert "created" in loaded.stdout
    created = int(loaded.stdout.split()[1].replace(",", ""))
    assert created == 52  # 达坂城区: 1 county, 8 townships, 41 villages; and 新疆, 乌鲁木齐市 above
    again = jiaoying(database, "regions", "import", "--builtin", "650107")
    assert again.returncode == 0 and "0 created, 0 updated" in again.stdout  # the same rows change nothing


def test_a_roster_and_keys(database: Path, tmp_path: Path) -> None:
    jiaoying(database, "regions", "import", "--builtin", "650107")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "name,phone,region_code,role,rank,channels\n"
        "王建国,13900000001,650107001001,村委会主任,1,sms|voice\n"
        "李秀英,13900000002,650107001000,乡镇值班员,1,sms\n",
        encoding="utf-8",
    )
    imported = jiaoying(database, "contacts", "import", str(roster))
    assert imported.returncode == 0, imported.stderr
    assert "2 created" in imported.stdout
    created = jiaoying(database, "keys", "create", "--name", "值班员甲", "--role", "duty_officer", "--region", "650107")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split()[1]
    assert "token (shown once): jy_" in created.stdout
    listed = jiaoying(database, "keys", "list")
    assert key_id in listed.stdout and "active" in listed.stdout
    revoked = jiaoying(database, "keys", "revoke", key_id)
    assert revoked.returncode == 0 and "revoked" in jiaoying(database, "keys", "list").stdout


def test_bad_input_is_refused_with_the_reason_and_a_non_zero_exit(database: Path, tmp_path: Path) -> None:
    missing = jiaoying(database, "regions", "import", str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 1 and "nowhere.csv" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,level,parent_code\n659999999999,某村,village,659999999000\n", encoding="utf-8")
    refused = jiaoying(database, "regions", "import", str(bad))
    assert refused.returncode == 1 and "Nothing was imported" in refused.stderr and '"line", 2' in refused.stderr
    prefix = jiaoying(database, "regions", "import", "--builtin", "xj")
    assert prefix.returncode == 1 and "not a code prefix" in prefix.stderr
    role = jiaoying(database, "keys", "create", "--name", "某人", "--role", "boss")
    assert role.returncode == 2 and "invalid choice" in role.stderr
    unknown = jiaoying(database, "keys", "revoke", "no-such-key")
    assert unknown.returncode == 1 and unknown.stderr.startswith("jiaoying: ")


def test_a_replacing_roster_takes_people_off_and_tells_the_engine(database: Path, tmp_path: Path) -> None:
    """`--replace` deactivates those of the subtree missing from the file; the engine hears of it
    (their open calls are cancelled: contact.hooks, registered by app.wiring in the command line too)."""
    jiaoying(database, "regions", "import", "--builtin", "650107")
    roster = tmp_path / "replace.csv"
    roster.write_text("name,phone,region_code,role,rank,channels\n"
                      "赵村长,13900000011,650107001002,村委会主任,1,sms\n"
                      "钱网格,13900000012,650107001002,网格员,2,sms\n", encoding="utf-8")  # fmt: skip
    assert jiaoying(database, "contacts", "import", str(roster)).returncode == 0
    roster.write_text("name,phone,region_code,role,rank,channels\n赵村长,13900000011,650107001002,村委会主任,1,sms\n",
                      encoding="utf-8")  # fmt: skip
    replaced = jiaoying(database, "contacts", "import", str(roster), "--replace", "650107001002")
    assert replaced.returncode == 0, replaced.stderr
    assert "1 deactivated" in replaced.stdout
