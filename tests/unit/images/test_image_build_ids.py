"""The offline build gives postgres the official images' uid/gid 999."""

from __future__ import annotations

from pathlib import Path

from devdb.images.rootfs import renumber_postgres_user


def rootfs(tmp_path: Path, passwd: str, group: str) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(passwd)
    (tmp_path / "etc/group").write_text(group)
    return tmp_path


def test_postgres_takes_999_and_the_holder_of_999_takes_its_old_id(tmp_path) -> None:
    # sid's shape: lpadmin already has gid 999.
    root = rootfs(
        tmp_path,
        "root:x:0:0:root:/root:/bin/bash\n"
        "postgres:x:100:102:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n"
        "printer:x:101:999::/:/usr/sbin/nologin\n",
        "root:x:0:\nlpadmin:x:999:\npostgres:x:102:\nssl-cert:x:103:postgres\n",
    )
    renumber_postgres_user(root)
    assert (root / "etc/passwd").read_text().splitlines()[1:] == [
        "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash",
        "printer:x:101:102::/:/usr/sbin/nologin",
    ]
    assert (root / "etc/group").read_text().splitlines()[1:] == [
        "lpadmin:x:102:",
        "postgres:x:999:",
        "ssl-cert:x:103:postgres",
    ]


def test_already_999_changes_nothing(tmp_path) -> None:
    passwd = "postgres:x:999:999::/var/lib/postgresql:/bin/bash\n"
    group = "postgres:x:999:\n"
    root = rootfs(tmp_path, passwd, group)
    renumber_postgres_user(root)
    assert (root / "etc/passwd").read_text() == passwd
    assert (root / "etc/group").read_text() == group
